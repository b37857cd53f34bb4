"""The second matching stage: local features (ORB keypoints) and their geometric verification (OpenCV).

Everything here may import OpenCV; the hasher's package does not carry it.
"""
