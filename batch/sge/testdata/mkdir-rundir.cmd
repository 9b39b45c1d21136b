mkdir
-p
-m
0700
--
.hpcgate
