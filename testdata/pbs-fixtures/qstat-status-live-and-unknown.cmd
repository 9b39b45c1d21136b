qstat
-f
-F
json
-x
99.pbsserver
99999.pbsserver
97.pbsserver
