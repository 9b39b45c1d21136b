qstat
-f
-F
json
-x
104.pbsserver
