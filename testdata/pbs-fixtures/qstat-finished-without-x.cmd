qstat
-f
-F
json
92.pbsserver
