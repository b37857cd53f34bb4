"""What `hashmatch check` reads from a hashes file, and what `hashmatch hash --lookup-request` gives it."""

from __future__ import annotations

import json

from hashmatch.matching.lookup import LookupRequest, PdqQuery
from hashmatch.model import FrameHashes, MediaHashes
from hashmatch.vocabulary import MediaKind, Role
from hashmatch_tools.lookup_client import lookup_request_of, read_hashes, region_for

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
OTHER = "0" * 63 + "1"
MD5 = "69b0834fac1477a4397a0be6b6e55c1a"
SHA256 = "25094afa08e258b3135208b54b0ed28a50ad5386a4e4b66501e7ad886864fd54"


def hashed() -> MediaHashes:
    frames = (FrameHashes(0.0, PDQ, 90), FrameHashes(2.0, PDQ, 70), FrameHashes(4.0, OTHER, 30))
    return MediaHashes(MediaKind.VIDEO, "mp4", 6.0, 320, 240, MD5, SHA256, Role.UPLOAD, frames)


def test_plain_lines_are_pdq_by_width_md5_by_width_and_sha256_by_name():
    problems: list[str] = []

    request = read_hashes(["# comment", "", PDQ.upper(), MD5, f"sha256:{SHA256}", f"pdq:{OTHER}"], "f", problems).request

    assert request == LookupRequest((PdqQuery(PDQ), PdqQuery(OTHER)), (MD5,), (SHA256,)) and problems == []


def test_each_bad_line_is_reported_with_its_number_and_the_rest_kept():
    problems: list[str] = []

    request = read_hashes([PDQ, "abc", "md5:" + PDQ, '{"pdq": ["zz"]}'], "hashes.txt", problems).request

    assert request.pdq == (PdqQuery(PDQ),)
    assert [problem.split(": ")[0] for problem in problems] == ["hashes.txt:2", "hashes.txt:3", "hashes.txt:4"]


def test_a_lookup_request_holds_each_distinct_frame_hash_once_with_its_best_quality():
    request = lookup_request_of(hashed())

    assert request == LookupRequest((PdqQuery(PDQ, 90), PdqQuery(OTHER, 30)), (MD5,), (SHA256,))


def test_lines_of_hash_lookup_request_and_of_hash_json_read_the_same():
    from_request = read_hashes([json.dumps({"path": "v.mp4", **lookup_request_of(hashed()).to_dict()})], "f", [])
    from_json = read_hashes([json.dumps({"path": "v.mp4", **hashed().to_dict()})], "f", [])

    assert from_request == from_json
    assert from_request.request == lookup_request_of(hashed())


def test_each_hash_keeps_the_path_of_the_line_it_came_from_in_the_order_requests_are_sent():
    one = {"path": "one.jpg", **LookupRequest((PdqQuery(PDQ, 90),), (MD5,), ()).to_dict()}
    two = {"path": "two.jpg", **LookupRequest((PdqQuery(OTHER, 80),), (), (SHA256,)).to_dict()}

    read = read_hashes([json.dumps(one), PDQ, json.dumps(two)], "f", [])

    tagged = [("pdq", query.hash) for query in read.request.pdq] + [("md5", d) for d in read.request.md5] + [("sha256", d) for d in read.request.sha256]
    assert list(zip(tagged, read.paths)) == [(("pdq", PDQ), "one.jpg"), (("pdq", PDQ), None), (("pdq", OTHER), "two.jpg"), (("md5", MD5), "one.jpg"), (("sha256", SHA256), "two.jpg")]


def test_a_lookup_request_line_whose_path_is_not_text_is_a_bad_line():
    problems: list[str] = []

    read = read_hashes([json.dumps({"path": 7, "pdq": [PDQ]})], "f", problems)

    assert read.request.size == 0 and problems[0].startswith("f:1: path")


def test_the_region_comes_from_an_aws_function_urls_host():
    assert region_for("https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.ap-southeast-2.on.aws/") == "ap-southeast-2"
    assert region_for("http://127.0.0.1:8000/", "eu-west-1") == "eu-west-1"
