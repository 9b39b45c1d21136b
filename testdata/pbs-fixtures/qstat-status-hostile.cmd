qstat
-f
-F
json
-x
105.pbsserver
106.pbsserver
107.pbsserver
