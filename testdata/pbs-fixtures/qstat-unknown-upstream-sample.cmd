qstat
256.sod-pbs
