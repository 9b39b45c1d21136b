qacct
-j
8629226
