qstat
-xml
-j
8629147
