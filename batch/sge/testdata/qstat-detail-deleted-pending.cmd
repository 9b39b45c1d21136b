qstat
-xml
-j
8629227
