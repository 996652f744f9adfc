"""Sampling: molecule sizes, conditioning, batching and writers around ``molgen.processes.sample``."""

from molgen.sampling.sizes import sample_num_atoms

__all__ = ["sample_num_atoms"]
