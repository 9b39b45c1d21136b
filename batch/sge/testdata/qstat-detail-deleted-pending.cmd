qstat
-xml
-j
8629158
