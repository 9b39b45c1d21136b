qstat
-f
-F
json
-x
91.pbsserver
