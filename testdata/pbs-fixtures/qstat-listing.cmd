qstat
-x
