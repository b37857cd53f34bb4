import json
import subprocess
import sys

import numpy as np
import pytest

from hashmatch_tools.cli import main
from hashmatch_tools.made_media import encode_video, image_bytes, panning, textured


@pytest.fixture
def files(tmp_path):
    frames = panning(1, 40, 200, 150)
    made = {
        "reference": encode_video(frames),
        "copy": encode_video([np.ascontiguousarray(f[:, ::-1]) for f in frames]),
        "other": encode_video(panning(2, 40, 200, 150)),
        "photo": image_bytes(textured(3)),
        "empty": b"",
        "notes": b"not media at all\n" * 20,
    }
    paths = {}
    for name, data in made.items():
        paths[name] = tmp_path / name
        paths[name].write_bytes(data)
    return paths


def run(capsys, *args):
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def test_compare_json_is_one_verdict_object_per_query_in_order(capsys, files):
    status, out, _ = run(capsys, "compare", "--json", files["reference"], files["copy"], files["other"])
    lines = [json.loads(line) for line in out.splitlines()]
    assert status == 0
    assert [line["query"] for line in lines] == [str(files["copy"]), str(files["other"])]
    assert [line["match"] for line in lines] == [True, False]
    for line in lines:
        assert {"query_match_percent", "reference_match_percent", "matched_query_timestamps", "matched_reference_timestamps"} <= set(line)


def test_bad_inputs_exit_2_with_one_line_each_and_the_rest_still_run(capsys, files):
    status, out, err = run(capsys, "compare", "--json", files["reference"], files["empty"], files["copy"], files["notes"], files["reference"].parent / "missing.mp4")
    assert status == 2
    assert [json.loads(line)["query"] for line in out.splitlines()] == [str(files["copy"])]
    errors = err.strip().splitlines()
    assert len(errors) == 3
    assert all(line.startswith("hashmatch: error: ") for line in errors)
    assert str(files["empty"]) in errors[0] and str(files["notes"]) in errors[1] and "missing.mp4" in errors[2]
    assert "Traceback" not in err


def test_an_unreadable_reference_stops_with_exit_2(capsys, files):
    status, out, err = run(capsys, "compare", files["notes"], files["copy"])
    assert status == 2 and out == "" and len(err.strip().splitlines()) == 1


def test_hash_reports_kind_digests_and_per_frame_hashes(capsys, files):
    status, out, _ = run(capsys, "hash", "--json", files["photo"], files["reference"])
    photo, video = (json.loads(line) for line in out.splitlines())
    assert status == 0
    assert (photo["kind"], video["kind"]) == ("image", "video")
    assert len(photo["md5"]) == 32 and len(photo["sha256"]) == 64
    assert 7 <= len(video["frames"]) <= 9  # 4 s: short, so an instant in each half second (keyed, so not always on the same frames)
    frame = video["frames"][1]
    assert 0.0 < frame["timestamp"] < 1.0 and len(frame["pdq"]) == 64 and 0 <= frame["quality"] <= 100
    assert set(frame["signals"]) == {"phash"}


def test_hash_text_output_lists_each_frame(capsys, files):
    status, out, _ = run(capsys, "hash", files["photo"])
    lines = out.splitlines()
    assert status == 0 and lines[0].startswith(str(files["photo"])) and "pdq=" in lines[1]


def test_progress_goes_to_stderr_only(capsys, files):
    status, out, err = run(capsys, "compare", "--json", "--progress", files["reference"], files["copy"])
    assert status == 0 and "[2/2]" in err and all(line.startswith("{") for line in out.splitlines())


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "hashmatch_tools.cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("hashmatch ")
