qstat
-f
-F
json
-x
99.pbsserver
