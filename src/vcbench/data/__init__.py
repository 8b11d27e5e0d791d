"""Datasets: a registry (YAML files, data not code) and the steps that prepare each sequence."""

from vcbench.data.prepare import prepare_sequence
from vcbench.data.registry import Dataset, SequenceSpec, list_datasets, load_dataset

__all__ = ["Dataset", "SequenceSpec", "list_datasets", "load_dataset", "prepare_sequence"]
