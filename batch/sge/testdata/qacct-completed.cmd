qacct
-j
8629154
