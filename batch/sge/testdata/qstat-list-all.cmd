qstat
-xml
-r
-u
*
