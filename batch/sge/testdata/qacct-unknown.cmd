qacct
-j
8629227
