scancel
1138
