"""The hash lists written here load in the other tools' own parsers, and the lists they make are read here.

python-threatexchange itself (a development requirement): its HMASerialization, its file exchange
(LocalFileSignalExchangeAPI) and its command line, which makes the lists the readers are given.
Its vPDQ serialisers import the `vpdq` extension at module level, so those tests skip where that
extension is not installed.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hashmatch.hash_set.formats import hma, pytx
from hashmatch.hash_set.lists import HashListEntry, read_hash_list, write_hash_list
from hashmatch.vocabulary import ListedSignal

A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
B = "acecf3355e3125c8e24e2f30e0d4ec4f8482b878b3c34cdbdf063278db275992"
MD5 = "cab08b36195edb1a1231d2d09fa450e0"
HMA_DIR = "hash-lists/hma-sample-data"


def read(lines, source="partner-list", name="list.txt"):
    return list(read_hash_list(lines, source, None, name=name))


def frames(*specs, video="clip", source="partner-list"):
    return [HashListEntry(signal_type="pdq", hash=h, source=source, source_id=f"{video}#{i}", quality=q, timestamp=t) for i, (h, q, t) in enumerate(specs)]


threatexchange = pytest.importorskip("threatexchange", reason="python-threatexchange (requirements/dev.txt) is not installed")


def _pytx(state: Path, *arguments: str) -> str:
    done = subprocess.run([sys.executable, "-m", "threatexchange", *arguments], env={"TX_STATEDIR": str(state), "PATH": ""}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def pytx_made_lists(tmp_path_factory):
    """A list given to python-threatexchange's file exchange, and what its command line prints of it: the dataset CSV and the signal lines."""
    folder = tmp_path_factory.mktemp("pytx")
    source = folder / "shared.txt"
    source.write_text(f"pdq {A}\nvideo_md5 {MD5.upper()}\nvideo_sha256 {B}\nurl https://example.org/x\n")
    state = folder / "state"
    _pytx(state, "config", "collab", "edit", "local_file", "Partner", "--create", "--filename", str(source))
    _pytx(state, "fetch")
    (folder / "dataset.csv").write_text(_pytx(state, "dataset", "-P", "--csv"))
    (folder / "signals.txt").write_text(_pytx(state, "dataset", "-P", "-S"))
    return folder


@pytest.mark.parametrize("made", ["dataset.csv", "signals.txt"])
def test_lists_python_threatexchange_prints_are_read_whole(pytx_made_lists, made):
    items = read((pytx_made_lists / made).read_text().splitlines(), name=made)
    assert sorted((str(i.signal_type), i.hash) for i in items if isinstance(i, HashListEntry)) == sorted([("pdq", A), ("md5", MD5), ("sha256", B)])
    assert len(items) == 4  # the URL signal is skipped and counted


def test_dataset_csv_written_here_has_the_columns_python_threatexchange_prints(pytx_made_lists):
    theirs = list(csv.DictReader((pytx_made_lists / "dataset.csv").read_text().splitlines()))
    entries = [item for item in read((pytx_made_lists / "dataset.csv").read_text().splitlines()) if isinstance(item, HashListEntry)]
    ours = list(csv.DictReader(write_hash_list(entries, "pytx-csv")))
    hashes = [(row["signal_type"], row["signal_str"].lower()) for row in theirs if row["signal_type"] != "url"]
    assert sorted((row["signal_type"], row["signal_str"]) for row in ours) == sorted(hashes) and all(row.keys() == theirs[0].keys() for row in ours)


def test_hma_state_files_written_here_load_in_python_threatexchange(tmp_path):
    from threatexchange.cli.dataset.simple_serialization import HMASerialization

    entries = [
        HashListEntry(signal_type="pdq", hash=A, labels=("christchurch",), source="gifct", source_id="2880742865368386", added_at="2020-07-31T18:47:52+00:00"),
        *frames((B, 90, 0.5), video="chair.txt"),
        HashListEntry(signal_type="md5", hash=MD5, source="tat", source_id="tat-10593"),
        HashListEntry(signal_type="sha256", hash=B, source="gifct"),
    ]
    for kind in ("pdq", "md5", "sha256"):
        (tmp_path / hma.state_file_name(kind)).write_text("".join(write_hash_list([e for e in entries if e.signal_type == kind], "hma-csv")))

    limit = csv.field_size_limit()
    try:
        loaded = HMASerialization.load(tmp_path)
    finally:
        csv.field_size_limit(limit)  # load() sets the process's limit to the file's size

    assert sorted((item.indicator_type, item.indicator) for item in loaded) == sorted((hma.INDICATOR_TYPES[e.signal_type], e.hash) for e in entries)
    assert all(str(item.indicator_id).isdigit() and isinstance(item.rollup.first_descriptor_id, int) for item in loaded)


def test_hma_state_files_written_here_pass_hma_1_0s_reader_rule(corpus):
    """HMA 1.0's reader (hmalib, removed upstream with HMA 1.0, not installable) takes five columns and int() of both ids."""
    written = write_hash_list(read((corpus / HMA_DIR / "holidays-jpg1-pdq-hashes.csv").read_text().splitlines()), "hma-csv")
    rows = list(csv.reader(written))
    assert len(rows) == 813 and all(len(row) == 5 and int(row[1]) >= 0 and int(row[2]) >= 0 for row in rows)


def test_file_exchange_written_here_is_fetched_by_python_threatexchange(tmp_path):
    from threatexchange.exchanges.impl.file_api import FileCollaborationConfig, LocalFileSignalExchangeAPI
    from threatexchange.signal_type.md5 import VideoMD5Signal
    from threatexchange.signal_type.pdq.signal import PdqSignal
    from threatexchange.signal_type.sha256 import VideoSHA256Signal

    entries = [HashListEntry(signal_type="pdq", hash=A, source="s"), HashListEntry(signal_type="md5", hash=MD5, source="s"), HashListEntry(signal_type="sha256", hash=B, source="s")]
    path = tmp_path / "list.txt"
    path.write_text("".join(write_hash_list(entries, "pytx-file")))
    api = LocalFileSignalExchangeAPI(FileCollaborationConfig(name="ours", api="local_file", enabled=True, filename=str(path)))
    fetched = {}
    for delta in api.fetch_iter([], None):
        fetched.update(delta.updates)

    converted = api.naive_convert_to_signal_type([PdqSignal, VideoMD5Signal, VideoSHA256Signal], api.collab, fetched)

    assert {kind.get_name(): sorted(found) for kind, found in converted.items()} == {"pdq": [A], "video_md5": [MD5], "video_sha256": [B]}


def test_vpdq_signal_written_here_is_python_threatexchanges_and_back():
    pytest.importorskip("vpdq", reason="python-threatexchange's vPDQ serialisers import the vpdq extension (not installed)")
    from threatexchange.extensions.vpdq.vpdq_util import json_to_vpdq, vpdq_to_json

    ours = frames((A, 100, 0.0), (B, 90, 1 / 30), (A, 70, 123.456), video="clip")
    signal = next(write_hash_list(ours, "vpdq-json")).strip()

    theirs = json_to_vpdq(signal)

    assert [(f.pdq_hex, f.quality, f.timestamp) for f in theirs] == [(A, 100, 0.0), (B, 90, 0.0333), (A, 70, 123.0)]
    assert read([vpdq_to_json(theirs)], name="clip") == frames((A, 100, 0.0), (B, 90, 0.0333), (A, 70, 123.0), video="clip")


def test_vpdq_corpus_sample_as_a_signal_is_read_by_python_threatexchange(corpus):
    pytest.importorskip("vpdq", reason="python-threatexchange's vPDQ serialisers import the vpdq extension (not installed)")
    from threatexchange.extensions.vpdq.vpdq import VPDQSignal

    sample = corpus / "expected-hashes/vpdq/doorknob-hd-no-bar.txt"
    listed = [item for item in read(sample.read_text().splitlines(), name=sample.name) if isinstance(item, HashListEntry)]
    signal = next(write_hash_list(listed, "vpdq-json")).strip()

    assert VPDQSignal.validate_signal_str(signal) == signal and len(json.loads(signal)) == 60


def test_pytx_signal_type_names_are_python_threatexchanges():
    from threatexchange.signal_type.md5 import VideoMD5Signal
    from threatexchange.signal_type.pdq.signal import PdqSignal
    from threatexchange.signal_type.sha256 import VideoSHA256Signal

    assert pytx.SIGNAL_NAMES == {ListedSignal.PDQ: PdqSignal.get_name(), ListedSignal.MD5: VideoMD5Signal.get_name(), ListedSignal.SHA256: VideoSHA256Signal.get_name()}
