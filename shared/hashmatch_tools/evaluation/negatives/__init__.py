"""The negative corpus: thousands of pictures and hundreds of videos unrelated to any reference, from Debian packages, and the false-positive evaluation on it.

    python -m hashmatch_tools.evaluation.negatives build      # make negatives: pictures, videos, manifests (.cache/negatives)
    python -m hashmatch_tools.evaluation.negatives evaluate   # make evaluate-negatives: the evaluation part against >= 100,000 reference frames
    python -m hashmatch_tools.evaluation.negatives positives  # make evaluate-positives: recall on altered copies of that hash set's references

packages.py names the packages and their parts, debian.py fetches and reads them, corpus.py turns
their pictures into the corpus, independence.py withholds the negative packages that share a source
with the reference packages, videos.py makes the videos, references.py the reference hash set,
false_positives.py runs the evaluation, positives.py the recall on altered copies of the references.
"""
