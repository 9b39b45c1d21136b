qstat
-f
-F
json
