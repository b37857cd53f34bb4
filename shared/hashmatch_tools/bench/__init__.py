"""The benchmarks, each a module run as `python -m hashmatch_tools.bench.<name>` (the Makefile's bench targets run them).

hashing (make bench), index (make bench-index), snapshot (make bench-snapshot), second_stage (make bench-second-stage),
retro (make bench-retro) and lookup (make bench-lookup); beside them what they use: processes (the work the hashing
benchmark times, one kind per process), videos (the videos it makes) and second_stage_data (the second stage's reference
sets and queries).
"""
