qstat
-xml
-j
8629157
