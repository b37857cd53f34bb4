"""Run one function's handler module, and its core path, in a process where only its own layers' libraries import.

    python tests/function_sandbox.py SPEC_JSON

SPEC_JSON: {"blocked": [top-level module names], "handler": path of functions/<name>/app.py,
"environment": {...}, "exercise": "hash" | "match" | "index" | "log" | "retro" | "sync" | null, "media": [paths]}. Exits 0 when all
went well; an import of a blocked module raises ModuleNotFoundError naming it and who asked.
Used by tests/unit/test_function_packages.py; a plain script so that pytest's own imports
(numpy, PIL, ...) are not already loaded in the process under test.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import json
import os
import sys
import traceback


class Blocked(importlib.abc.MetaPathFinder):
    """Makes the named top-level modules unimportable, as they are in a package that lacks them."""

    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            asker = next((frame.filename for frame in reversed(traceback.extract_stack()) if "importlib" not in frame.filename and frame.filename != __file__), "?")
            raise ModuleNotFoundError(f"{fullname} is not in this function's package (imported from {asker})", name=fullname)
        return None


def exercise_hash(media: list[str]) -> None:
    from hashmatch.media.hashing import encode_detail_picture, hash_media

    for path in media:
        with open(path, "rb") as handle:
            hashes = hash_media(handle.read(), role="upload", extra_signals=(), keep_detail_pictures=True)
        assert hashes.frames and hashes.detail_pictures, path
        assert all(encode_detail_picture(picture).jpeg for picture in hashes.detail_pictures)


def exercise_match(media: list[str]) -> None:
    import cv2
    import numpy as np

    from hashmatch.matching.local_features.orb import extract_with_insets
    from hashmatch.matching.local_features.stage import LocalFeatureStage
    from hashmatch.hash_set.frame_index import FrameIndex
    from hashmatch.matching.matcher import Matcher, PdqStage
    from hashmatch.model import EncodedDetailPicture, MediaHashes
    from hashmatch.matching.verdict import Stage

    with open(media[0]) as handle:
        upload = MediaHashes.from_dict(json.loads(json.load(handle)["Records"][0]["body"])["hashes"])
    grey = cv2.resize(np.random.default_rng(1).integers(0, 256, (48, 64), dtype=np.uint8), (640, 480), interpolation=cv2.INTER_NEAREST)
    second = LocalFeatureStage()
    second.index.add("known", [(0.0, extract_with_insets(grey))], 0.0)
    jpeg = cv2.imencode(".jpg", grey)[1].tobytes()
    result = Matcher({"known": 0.0}, [PdqStage(FrameIndex(256), 31), second]).match(upload, lambda: [EncodedDetailPicture(0.0, jpeg)])
    assert result.deciding_stage == Stage.LOCAL_FEATURES, result


def exercise_index(media: list[str]) -> None:
    from hashmatch.hash_set.snapshot import HashSetChanges, HashSetSnapshot, HashSetView, KnownItemState, KnownItem

    entry = KnownItemState(KnownItem("pdq:" + "ab" * 32, ("label",), "list", "hash"))
    snapshot = HashSetSnapshot.from_bytes(HashSetSnapshot.of_states([entry]).to_bytes())
    changes = HashSetChanges.from_bytes(HashSetChanges({entry.key: None}).to_bytes())
    assert entry.key in HashSetView(snapshot) and entry.key not in HashSetView(snapshot, changes)
    assert len(snapshot.patched(changes).frames) == 0


def exercise_log(media: list[str]) -> None:
    from hashmatch.upload_log.records import log_rows, parquet_files

    message = {
        "message_type": "hashmatch.upload-log",
        "message_version": 1,
        "checked_at": "2026-12-04T10:00:00.000+00:00",
        "upload": {"upload_id": "s3://b/k", "bucket": "b", "key": "k"},
        "media": {"kind": "image", "md5": "", "sha256": "", "frames_hashed": 1},
        "frames": [[0, 0.0, 100, "ab" * 64]],
    }
    files = parquet_files(log_rows([message]), "batch")
    assert sorted(files) == ["upload_frames/dt=2026-12-04/batch.parquet", "uploads/dt=2026-12-04/batch.parquet"], sorted(files)


def exercise_retro(media: list[str]) -> None:
    from hashmatch.upload_log.retro_match import logged_uploads, probe_rows
    from hashmatch.hash_set.snapshot import HashSetSnapshot, HashSetView, KnownItemState, KnownItem
    from hashmatch.matching.assembly import hash_set_matcher

    pdq = "ab" * 32
    entry = KnownItemState(KnownItem("pdq:" + pdq, ("label",), "list", "image"), frames=((0.0, pdq),))
    assert probe_rows([entry], "run")
    row = {"upload_id": "s3://b/k", "kind": "image", "frame": 0, "variant": 0, "timestamp": 0.0, "quality": 100, "checked_at": "2026-12-04"}
    row.update({f"h{w}": int(pdq[16 * w : 16 * w + 16], 16) - (1 << 64) for w in range(4)})
    [logged] = logged_uploads([row])
    assert hash_set_matcher(HashSetView(HashSetSnapshot.of_states([entry])), 31).match(logged.hashes, None).matches


def exercise_sync(media: list[str]) -> None:
    """Every exchange's client made (no request sent), a list read, a TMK entry keyed: what the sync does without numpy or FAISS."""
    from hashmatch.exchanges.connect import connect
    from hashmatch.exchanges.model import ExchangeConfig
    from hashmatch.hash_set.lists import read_hash_list

    connect(ExchangeConfig("tat", "tat", "all", secret="s"), {"username": "u", "password": "p"})
    connect(ExchangeConfig("gifct", "threatexchange", "303636684709969", secret="s"), {"api_token": "1234567890|abcdefghijklmnopqrstuvwxyz"})
    connect(ExchangeConfig("partner", "list", "https://example.org/list.txt"), {})
    assert len(list(read_hash_list(["pdq " + "ab" * 32, "vpdq [\"" + "ab" * 32 + ",90,0.0\"]"], "partner"))) == 2


def main(spec: dict) -> None:
    sys.meta_path.insert(0, Blocked(spec["blocked"]))
    os.environ.update(spec["environment"])
    loader = importlib.util.spec_from_file_location("handler_under_test", spec["handler"])
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    assert callable(module.lambda_handler)
    if spec.get("exercise") == "hash":
        exercise_hash(spec["media"])
    elif spec.get("exercise") == "match":
        exercise_match(spec["media"])
    elif spec.get("exercise") == "index":
        exercise_index(spec["media"])
    elif spec.get("exercise") == "log":
        exercise_log(spec["media"])
    elif spec.get("exercise") == "retro":
        exercise_retro(spec["media"])
    elif spec.get("exercise") == "sync":
        exercise_sync(spec["media"])


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
