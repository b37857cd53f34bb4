"""The main job on the local default: compare the corpus sample videos with a reference.

Uses ../shared/corpus when it is there; otherwise makes its own reference, an altered copy
and an unrelated video, so the demo runs on any clone.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "videos" / "tmk-sample-videos"


def corpus_files() -> list[Path]:
    reference = CORPUS / "chair-orig-22-sd-bar.mp4"
    queries = [CORPUS / f"{name}.mp4" for name in ("chair-19-sd-bar", "chair-22-sd-sepia-bar", "chair-22-with-small-logo-bar", "chair-22-with-large-logo-bar", "pattern-hd-no-bar", "doorknob-hd-no-bar")]
    return [reference, *queries]


def made_files(folder: Path) -> list[Path]:
    import numpy as np
    from hashmatch_tools.made_media import encode_video, panning

    frames = panning(1, 120, 320, 240)
    made = {
        "reference.mp4": encode_video(frames, fps=20),
        "mirrored-copy.mp4": encode_video([np.ascontiguousarray(f[:, ::-1]) for f in frames], fps=20),
        "unrelated.mp4": encode_video(panning(2, 120, 320, 240), fps=20),
    }
    for name, data in made.items():
        (folder / name).write_bytes(data)
    return [folder / name for name in made]


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        if CORPUS.is_dir():
            files = corpus_files()
            print(f"Comparing corpus sample videos with {files[0].name} (reference) ...", flush=True)
        else:
            print(f"No corpus at {CORPUS}; comparing videos made for the demo ...", flush=True)
            files = made_files(Path(folder))
        command = [str(Path(sys.executable).parent / "hashmatch"), "compare", "--progress", *map(str, files)]
        return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
