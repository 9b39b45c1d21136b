qstat
-f
-F
json
-x
93.pbsserver
