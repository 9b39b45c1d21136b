qacct
-j
8629157
