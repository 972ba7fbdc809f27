"""medsynth: a Snakemake benchmark suite for deep-learning medical image synthesis."""

__version__ = "0.1.0"
