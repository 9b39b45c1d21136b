qstat
-f
-F
json
-x
97.pbsserver
