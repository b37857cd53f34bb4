"""The work the hashing benchmark times, one kind per process: `python -m hashmatch_tools.bench.processes KIND VIDEO`.

- `decode`: bare decoding of every frame (the floor for anything that looks at every frame).
- `vpdq`: the `vpdq` package (the field's own C++ video hasher, requirements/dev.txt) as its documentation
  runs it: `vpdq.computeHash(path)` with its defaults, a hash a second (seconds_per_hash=1.0) and
  thread_count=0 (one hashing thread per core beside its decoding thread).
- `baseline`: the in-project "vPDQ way", every frame decoded in order (PyAV) and PDQ taken at full size once a second.
- `upload`: what the hasher function does with an upload (sparse sampling, detail pictures as JPEG).
- `reference`: dense reference hashing with local features, as `hashmatch admin hashset add` does.

Each prints one JSON line: frames hashed, the seconds spent after the imports and the process's
peak resident memory (its VmHWM: the rusage maxrss of a forked child also counts the parent's
pages it held before exec). The parent measures the whole process's wall and CPU time.
"""

from __future__ import annotations

import json
import sys
import time

KINDS = ("decode", "vpdq", "baseline", "upload", "reference")


def decode(path: str) -> int:
    import av

    count = 0
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _frame in container.decode(stream):
            count += 1
    return count


def vpdq(path: str) -> int:
    import vpdq as package

    # Its README's call: the defaults, seconds_per_hash=1.0 and thread_count=0 (as many hashing threads as cores).
    return len(package.computeHash(path))


def baseline(path: str, interval: float = 1.0) -> int:
    import av
    import numpy as np
    import pdqhash

    hashed = 0
    due = 0.0
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if frame.time is None or frame.time < due:
                continue
            due = frame.time + interval
            pdqhash.compute(np.ascontiguousarray(frame.to_ndarray(format="rgb24")))
            hashed += 1
    return hashed


def upload(path: str) -> int:
    from hashmatch.media.hashing import encode_detail_picture, hash_media
    from hashmatch.vocabulary import Role

    hashes = hash_media(path, role=Role.UPLOAD, extra_signals=(), keep_detail_pictures=True)
    for picture in hashes.detail_pictures:
        encode_detail_picture(picture)
    return hashes.frames_sampled


def reference(path: str) -> int:
    from hashmatch_tools.matching import hash_reference

    return len(hash_reference(path).frames)


def peak_mb() -> float:
    """This process's peak resident memory since it was exec'd (Linux's VmHWM; maxrss elsewhere)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in KINDS:
        print(f"usage: python -m hashmatch_tools.bench.processes {{{'|'.join(KINDS)}}} VIDEO", file=sys.stderr)
        return 2
    kind, path = argv
    work = globals()[kind]
    started = time.perf_counter()
    frames = work(path)
    print(json.dumps({"kind": kind, "frames": frames, "seconds": time.perf_counter() - started, "peak_mb": peak_mb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
