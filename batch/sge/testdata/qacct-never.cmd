qacct
-j
9999998
