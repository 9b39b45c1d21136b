qsub
-terse
