qacct
-j
8629225
