"""The robustness suite: altered copies of known media, negatives, and the evaluation that scores the matcher on them."""
