qacct
-j
8629156
