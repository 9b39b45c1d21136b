qstat
-xml
-j
8629226
