"""The hasher's side of the core: decoding (PyAV, Pillow), border and inner-picture detection, hashing (pdqhash).

Everything here may import PyAV, Pillow and pdqhash; the matcher's package carries none of them.
"""
