qacct
-j
8629214
