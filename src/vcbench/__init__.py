"""vcbench: a reproducible benchmark pipeline for perceptual video compression at low bitrates."""

__version__ = "0.1.0"
