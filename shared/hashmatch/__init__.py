"""hashmatch: perceptual hash matching of uploads against a set of known media."""

__version__ = "0.1.0"
