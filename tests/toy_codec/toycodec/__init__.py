"""A toy codec from outside vcbench (tests/test_toy_codec.py): found on VCBENCH_CODECS, with one analysis."""
