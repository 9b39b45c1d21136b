sbatch
--parsable
--hold
