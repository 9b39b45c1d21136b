qacct
-j
8629155
