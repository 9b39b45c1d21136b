qstat
-f
-F
json
-x
95
