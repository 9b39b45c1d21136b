sbatch
--version
