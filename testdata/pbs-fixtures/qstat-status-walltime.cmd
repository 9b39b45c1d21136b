qstat
-f
-F
json
-x
87.pbsserver
