qacct
-j
8629144
