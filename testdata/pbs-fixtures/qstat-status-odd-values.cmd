qstat
-f
-F
json
-x
100.pbsserver
