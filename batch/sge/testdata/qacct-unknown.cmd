qacct
-j
8629158
