squeue
--json
