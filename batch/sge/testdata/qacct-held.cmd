qacct
-j
8629145
