qstat
-f
-F
json
-x
95.pbsserver
99999.pbsserver
93.pbsserver
