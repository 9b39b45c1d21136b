scancel
999999
