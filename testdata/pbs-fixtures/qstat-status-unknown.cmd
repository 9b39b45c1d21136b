qstat
-f
-F
json
-x
99999.pbsserver
