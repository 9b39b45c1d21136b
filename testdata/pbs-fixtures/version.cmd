qstat
--version
