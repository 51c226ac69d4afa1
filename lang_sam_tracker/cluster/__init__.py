"""Beyond one machine: shards for SLURM job arrays, and the Ray backend."""
