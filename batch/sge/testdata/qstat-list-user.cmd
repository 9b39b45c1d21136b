qstat
-xml
-r
-u
alice
