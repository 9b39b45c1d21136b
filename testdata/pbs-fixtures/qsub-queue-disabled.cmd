qsub
