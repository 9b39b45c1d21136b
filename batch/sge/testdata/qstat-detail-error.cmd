qstat
-xml
-j
8629216
