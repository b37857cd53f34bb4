"""The hash-list formats of the field's other tools, beside hashmatch's own (hash_set/lists.py, the front door).

- pytx.py: python-threatexchange's file exchange (`signal_type signal` lines) and its
  `threatexchange dataset -P --csv` rows;
- hma.py: HMA 1.0's state files (five columns, the signal type in the file name);
- vpdq.py: vPDQ, one video's per-frame hashes, in the reference tools' line orders and as
  python-threatexchange and HMA 2.0 store the signal (a JSON list of "hex,quality,timestamp");
- tmk.py: TMK+PDQF video hashes (`TMK1FVECPDQF|base64...`), kept and counted.

Each module reads and writes its format; lists.py detects the format of a list and hands each
line to them. The formats and their mapping to hashmatch's entries: docs/hash-lists.md.
"""
