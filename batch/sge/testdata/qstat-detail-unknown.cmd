qstat
-xml
-j
9999998
