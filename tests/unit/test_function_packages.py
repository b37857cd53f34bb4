"""Each function runs with only what its layers carry: a heavy or development-only import in the wrong place fails here.

The hasher's package has PyAV, Pillow and pdqhash but no OpenCV; the matcher's has OpenCV but no
PyAV or Pillow; the takedown and restore have neither, nor numpy. Every function's handler is
imported, and the hasher's and matcher's core paths run, in a fresh process where every library
outside the function's layers (as template.yaml and layers/*/requirements.txt say) is unimportable.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hashmatch_tools.made_media import encode_video, image_bytes, panning, textured

from hashmatch_tools.local.template import function_properties, load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
FUNCTIONS = sorted(name for name, resource in TEMPLATE["Resources"].items() if resource["Type"] == "AWS::Serverless::Function")
SANDBOX = ROOT / "tests" / "function_sandbox.py"
# Distributions some layer carries, by the top-level module they install.
LAYER_LIBRARIES = {
    "av": "av",
    "pdqhash": "pdqhash",
    "numpy": "numpy",
    "pillow": "PIL",
    "opencv-python-headless": "cv2",
    "imagehash": "imagehash",
    "scipy": "scipy",
    "pywavelets": "pywt",
    "pydantic": "pydantic",
    "pyarrow": "pyarrow",
    "duckdb": "duckdb",
    # The exchange sync's own (functions/sync_exchanges/requirements.txt): python-threatexchange without its declared
    # dependencies. (python-dateutil and urllib3, which it needs too, come with botocore in every function.)
    "threatexchange": "threatexchange",
    "requests": "requests",
    "dacite": "dacite",
}
# Never in a function: what develops, tests and evaluates hashmatch.
DEVELOPMENT_ONLY = ("hashmatch_tools", "moto", "yaml", "cfnlint", "matplotlib", "pytest", "jsonschema", "imagehash", "scipy", "pywt")
EXERCISES = {"HashUploadFunction": "hash", "MatchHashesFunction": "match", "IndexHashSetFunction": "index", "LogUploadHashesFunction": "log", "RetroMatchFunction": "retro", "SyncExchangesFunction": "sync"}


def layer_modules(function: str) -> set[str]:
    """Top-level modules of the libraries in the function's layers and in its own requirements.txt (sam build installs both)."""
    found = set()
    properties = function_properties(TEMPLATE, function)
    folders = [ROOT / TEMPLATE["Resources"][layer["Ref"]]["Properties"]["ContentUri"] for layer in properties.get("Layers", [])]
    folders.append(ROOT / properties["CodeUri"])
    for folder in folders:
        if not (folder / "requirements.txt").exists():
            continue
        for line in (folder / "requirements.txt").read_text().splitlines():
            name = re.split(r"[\[=<>~ ]", line.strip(), maxsplit=1)[0].lower()
            if name in LAYER_LIBRARIES:
                found.add(LAYER_LIBRARIES[name])
    return found


def blocked_for(function: str) -> list[str]:
    return sorted((set(LAYER_LIBRARIES.values()) | set(DEVELOPMENT_ONLY)) - (layer_modules(function) - set(DEVELOPMENT_ONLY)))


def environment(function: str) -> dict[str, str]:
    """The function's variables, parameters at their defaults, resource names made up."""
    values = {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "POWERTOOLS_TRACE_DISABLED": "1"}
    for name, value in function_properties(TEMPLATE, function)["Environment"]["Variables"].items():
        if isinstance(value, dict) and "Ref" in value:
            value = TEMPLATE.get("Parameters", {}).get(value["Ref"], {}).get("Default", f"test-{value['Ref']}")
        values[name] = str(value)
    return values


def run_in_sandbox(function: str, media: list[str], extra_blocked: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    spec = {
        "blocked": blocked_for(function) + list(extra_blocked),
        "handler": str(ROOT / function_properties(TEMPLATE, function)["CodeUri"] / "app.py"),
        "environment": environment(function),
        "exercise": EXERCISES.get(function),
        "media": media,
    }
    return subprocess.run([sys.executable, str(SANDBOX), json.dumps(spec)], capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, list[str]]:
    folder = tmp_path_factory.mktemp("sandbox-media")
    picture, video = folder / "picture.png", folder / "video.mp4"
    picture.write_bytes(image_bytes(textured(3, 640, 480)))
    video.write_bytes(encode_video(panning(4, 20)))
    return {"hash": [str(picture), str(video)], "match": [str(ROOT / "events" / "match_hashes.json")]}


def test_the_hasher_has_no_opencv_and_the_matcher_no_pyav_or_pillow():
    assert {"cv2"} <= set(blocked_for("HashUploadFunction")) and "av" not in blocked_for("HashUploadFunction")
    assert {"av", "PIL"} <= set(blocked_for("MatchHashesFunction")) and "cv2" not in blocked_for("MatchHashesFunction")
    # PDQ of detail pictures' parts (matching/layouts.py) needs pdqhash beside OpenCV.
    assert "pdqhash" not in blocked_for("MatchHashesFunction")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_runs_with_only_its_own_layers(function, media):
    ran = run_in_sandbox(function, media.get(EXERCISES.get(function), []))

    assert ran.returncode == 0, ran.stderr[-3000:]


def test_the_exchange_sync_carries_no_numpy_pillow_or_faiss():
    assert {"numpy", "PIL", "pdqhash", "cv2"} <= set(blocked_for("SyncExchangesFunction")) and "threatexchange" not in blocked_for("SyncExchangesFunction")


def test_the_sandbox_fails_a_function_that_imports_what_its_package_lacks(media):
    # numpy stands for any library missing from the package: the hasher needs it from its first import on.
    ran = run_in_sandbox("HashUploadFunction", media["hash"], extra_blocked=("numpy",))

    assert ran.returncode != 0 and "numpy is not in this function's package" in ran.stderr
