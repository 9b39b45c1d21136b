qstat
-f
-F
json
88.pbsserver
