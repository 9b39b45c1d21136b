scancel
1130
