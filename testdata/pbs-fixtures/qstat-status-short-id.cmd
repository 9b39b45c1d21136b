qstat
-f
-F
json
-x
99
