squeue
--all
--start
--noheader
--jobs=999999
--format=%i%S
