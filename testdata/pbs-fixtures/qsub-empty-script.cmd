qsub
-h
