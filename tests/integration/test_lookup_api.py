"""The hash lookup API over real HTTP: `hashmatch hash --lookup-request` on this machine, `hashmatch check` to the local stack's function URL."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from botocore.credentials import Credentials
from hashmatch_tools.made_media import image_bytes, textured

from tests.aws_fixtures import forget_source
from hashmatch.hash_set.lists import HashListEntry
from hashmatch.vocabulary import ListedSignal
from hashmatch.vocabulary import Action
from hashmatch_tools import cli
from hashmatch_tools.references import add_reference
from hashmatch_tools.lookup_client import post_lookup

SOURCE = "lookup-integration"
LISTED = "5a5a5a5aa5a5a5a50ff00ff0f00ff00f3c3c3c3cc3c3c3c3696969699696969b"


@pytest.fixture(scope="module")
def url(stack) -> str:
    return stack.output("LookUpHashesFunctionUrl")


@pytest.fixture(scope="module")
def reference(stack, runner, tmp_path_factory):
    """A picture in the hash set, indexed: what the copies are checked against."""
    from hashmatch.aws.hash_set.table import HashSetTable
    from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket

    hash_set = HashSetTable(stack.table("HashSetTable"), ReferenceFeaturesBucket(stack.client("s3"), stack.ref("ReferenceFeaturesBucket")))
    path = tmp_path_factory.mktemp("lookup") / "known.png"
    path.write_bytes(image_bytes(textured(47, 640, 480)))
    added = add_reference(hash_set, str(path), label="lookup picture", source="lookup tests")
    runner.run_until_idle(functions=["IndexHashSetFunction"])
    yield added
    hash_set.remove_reference(added.reference_id)
    runner.run_until_idle(functions=["IndexHashSetFunction"])


@pytest.fixture
def as_identity(stack, monkeypatch):
    """Sign as one of the local identities (the default credential chain reads the environment)."""

    def use(name: str) -> None:
        identity = stack.identity(name)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", identity.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", identity.secret_key)

    return use


def lookup_file(tmp_path, capsys, picture: bytes, name: str) -> str:
    """`hashmatch hash --lookup-request` of a picture, written where `hashmatch check --hashes` reads it."""
    media = tmp_path / name
    media.write_bytes(picture)
    assert cli.main(["hash", "--lookup-request", "--no-progress", str(media)]) == 0
    hashes = tmp_path / f"{name}.hashes"
    hashes.write_text(capsys.readouterr().out)
    return str(hashes)


def check(capsys, url: str, hashes: str, *extra: str) -> tuple[int, list[dict], str]:
    status = cli.main(["check", "--hashes", hashes, "--url", url, "--json", *extra])
    captured = capsys.readouterr()
    return status, [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_a_copys_hashes_match_through_hashmatch_check(tmp_path, capsys, url, reference, as_identity):
    as_identity("partner")
    hashes = lookup_file(tmp_path, capsys, image_bytes(textured(47, 640, 480), "JPEG", quality=60), "copy.jpg")

    status, answers, _ = check(capsys, url, hashes)

    assert status == 0
    [pdq] = [answer for answer in answers if answer["signal_type"] == "pdq"]
    assert pdq["match"] is True and pdq["action"] == "quarantine"
    assert {answer["signal_type"] for answer in answers} == {"pdq", "md5", "sha256"}


def test_check_says_which_file_each_answer_is_for(tmp_path, capsys, url, reference, as_identity):
    as_identity("partner")
    copy = lookup_file(tmp_path, capsys, image_bytes(textured(47, 640, 480), "JPEG", quality=60), "copy.jpg")
    other = lookup_file(tmp_path, capsys, image_bytes(textured(48, 640, 480), "JPEG", quality=60), "other.jpg")
    both = tmp_path / "both.hashes"
    both.write_text(open(copy).read() + open(other).read())

    status, answers, _ = check(capsys, url, str(both))
    printed = cli.main(["check", "--hashes", str(both), "--url", url])
    text = capsys.readouterr().out

    assert status == printed == 0
    assert {answer["path"] for answer in answers} == {str(tmp_path / "copy.jpg"), str(tmp_path / "other.jpg")}
    assert {answer["path"] for answer in answers if answer["match"]} == {str(tmp_path / "copy.jpg")}
    assert {line.split("\t")[4] for line in text.splitlines() if line.startswith("MATCH")} == {str(tmp_path / "copy.jpg")}


def test_unrelated_hashes_match_nothing(tmp_path, capsys, url, reference, as_identity):
    as_identity("partner")
    hashes = lookup_file(tmp_path, capsys, image_bytes(textured(48, 640, 480), "JPEG", quality=60), "other.jpg")

    status, answers, _ = check(capsys, url, hashes)

    assert status == 0 and answers and not any(answer["match"] for answer in answers)


def test_the_labels_role_sees_the_references_label_and_source(tmp_path, capsys, url, reference, as_identity):
    as_identity("labels-reader")
    hashes = lookup_file(tmp_path, capsys, image_bytes(textured(47, 640, 480), "JPEG", quality=60), "copy.jpg")

    _, answers, _ = check(capsys, url, hashes)

    [pdq] = [answer for answer in answers if answer["signal_type"] == "pdq"]
    assert pdq["labels"] == ["lookup picture"] and pdq["sources"] == ["lookup tests"]
    assert pdq["reference_ids"] == [reference.reference_id] and pdq["distance"] <= 31


@pytest.mark.parametrize("name", ["partner", "operator", "impostor"])
def test_a_caller_without_the_labels_role_gets_no_labels(tmp_path, capsys, url, reference, as_identity, name):
    as_identity(name)
    hashes = lookup_file(tmp_path, capsys, image_bytes(textured(47, 640, 480), "JPEG", quality=60), "copy.jpg")

    _, answers, _ = check(capsys, url, hashes)

    [pdq] = [answer for answer in answers if answer["signal_type"] == "pdq"]
    assert pdq["match"] is True
    assert set(pdq) == {"signal_type", "hash", "match", "action", "path"}


def test_an_unsigned_request_is_forbidden(url):
    request = urllib.request.Request(url, data=json.dumps({"pdq": [LISTED]}).encode(), headers={"Content-Type": "application/json"}, method="POST")

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)

    assert refused.value.code == 403 and json.loads(refused.value.read()) == {"Message": "Forbidden"}


def test_check_with_unknown_keys_exits_with_one_line_naming_403(tmp_path, capsys, url, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOBODYKNOWSTHIS0")
    hashes = tmp_path / "one.txt"
    hashes.write_text(LISTED + "\n")

    status, answers, error = check(capsys, url, str(hashes))

    assert status == 1 and answers == []
    assert error.strip().count("\n") == 0 and "answered 403" in error


def test_a_bad_request_is_answered_400_with_its_reason(stack, url):
    partner = stack.identity("partner")

    status, answer, _ = post_lookup(url, {"pdq": ["not a hash"]}, Credentials(partner.access_key, partner.secret_key), stack.region)

    assert status == 400 and answer["problems"] == ['pdq[0]: expected 64 hex digits, got "not a hash"']


def test_a_throttled_caller_gets_429_while_another_is_answered(stack, url):
    limit = int(stack.parameters["LookupHashesPerMinute"])
    spender, other = stack.identity("impostor"), stack.identity("operator")
    hundred = {"pdq": [LISTED] * 100}
    try:
        # Within a minute at most `limit` hashes pass; the minute may turn once on the way.
        statuses = []
        for _ in range(2 * limit // 100 + 2):
            status, answer, headers = post_lookup(url, hundred, Credentials(spender.access_key, spender.secret_key), stack.region)
            statuses.append(status)
            if status == 429:
                break
        other_status, _, _ = post_lookup(url, {"pdq": [LISTED]}, Credentials(other.access_key, other.secret_key), stack.region)
    finally:
        table = stack.table("LookupThrottleTable")
        for item in table.scan()["Items"]:
            table.delete_item(Key={"caller": item["caller"], "window": item["window"]})

    assert statuses[-1] == 429 and set(statuses[:-1]) == {200}
    assert int(headers["Retry-After"]) >= 1 and "hashes" in answer["reason"]
    assert other_status == 200


def test_an_allow_listed_hash_does_not_match(tmp_path, capsys, stack, runner, url, as_identity):
    from hashmatch.aws.hash_set.table import HashSetTable

    entries = HashSetTable(stack.table("HashSetTable")).entries
    entries.add(HashListEntry(signal_type=ListedSignal.PDQ, hash=LISTED, labels=("listed",), source=SOURCE), action=Action.REVIEW)
    runner.run_until_idle(functions=["IndexHashSetFunction"])
    hashes = tmp_path / "listed.txt"
    hashes.write_text(f"# one listed hash\n{LISTED}\n")
    as_identity("partner")
    try:
        _, before, _ = check(capsys, url, str(hashes))
        entries.allow(ListedSignal.PDQ, LISTED, allowed_by="tests", reason="a false positive")
        runner.run_until_idle(functions=["IndexHashSetFunction"])
        _, after, _ = check(capsys, url, str(hashes))
    finally:
        forget_source(HashSetTable(stack.table("HashSetTable")), SOURCE)
        runner.run_until_idle(functions=["IndexHashSetFunction"])

    assert before == [{"signal_type": "pdq", "hash": LISTED, "match": True, "action": "review"}]
    assert after == [{"signal_type": "pdq", "hash": LISTED, "match": False}]
