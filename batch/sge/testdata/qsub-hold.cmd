qsub
-terse
-h
