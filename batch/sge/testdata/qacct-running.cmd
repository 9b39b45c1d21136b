qacct
-j
8629213
