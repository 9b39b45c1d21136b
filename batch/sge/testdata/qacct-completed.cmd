qacct
-j
8629223
