sbatch
--parsable
