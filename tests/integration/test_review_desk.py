"""The moderators' desk (`hashmatch review`) in a real browser, against the local stack: the queue, an item side by side with
its pictures blurred, and each decision's effect on the audit table and S3, as two reviewers at their own desks.

The items are made the way the pipeline makes them: a review-only reference and a listed hash (action review) with copies
uploaded, and damaged videos held. Each desk is the app `hashmatch review` serves, on 127.0.0.1, signing with a reviewer's
session of the reviewers' role (made in moto's STS, so get-caller-identity names it).

HASHMATCH_WRITE_SCREENSHOTS=1 writes docs/review-queue.png and docs/review-item.png from this run.
"""

from __future__ import annotations

import io
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from PIL import Image

from hashmatch.aws.audit_table import AuditTable
from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.aws.reference_pictures import ReferencePictures
from hashmatch.hash_set.lists import HashListEntry
from hashmatch.media.hashing import hash_media
from hashmatch.vocabulary import Action
from hashmatch_tools.made_media import detailed, encode_video, image_bytes, panning
from hashmatch_tools.references import add_reference
from hashmatch_tools.review.app import create_app, token_of
from hashmatch_tools.review.desk import CareSettings, Desk, StackNames
from hashmatch_tools.review.server import DeskServer
from hashmatch_tools.stack_outputs import STACK_VARIABLES
from tests.browser import *  # noqa: F401,F403

DOCS = Path(__file__).resolve().parents[2] / "docs"
SCREENSHOTS = os.environ.get("HASHMATCH_WRITE_SCREENSHOTS") == "1"
SOURCE = "review-desk trial list"
BLURRED = "blur(24px) grayscale(1)"


def jpeg(rgb, quality: int = 80, crop: float = 0.0) -> bytes:
    picture = Image.fromarray(rgb)
    if crop:
        w, h = picture.size
        picture = picture.crop((int(w * crop), int(h * crop), w - int(w * crop), h - int(h * crop)))
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def truncated_video(seed: int) -> bytes:
    whole = encode_video(panning(seed, 40, 320, 240), fps=20)
    return whole[: len(whole) // 3]


@pytest.fixture(scope="module")
def items(stack, runner):
    """The review queue's items this module decides on: upload id by name, made by the pipeline from real uploads."""
    s3 = stack.client("s3")
    hash_set = HashSetTable(stack.table("HashSetTable"), ReferenceFeaturesBucket(s3, stack.ref("ReferenceFeaturesBucket")))
    pictures = ReferencePictures(s3, stack.ref("ReferencePicturesBucket"))
    known, listed = detailed(301, 800, 600), detailed(302, 800, 600)
    reference = add_reference(hash_set, image_bytes(known), label="trial: known violent-extremist picture", source=SOURCE, action=Action.REVIEW, pictures=pictures)
    listed_pdq = hash_media(image_bytes(listed), role="reference").frames[0].pdq
    hash_set.entries.add(HashListEntry(signal_type="pdq", hash=listed_pdq, labels=("tve",), source=SOURCE), action=Action.REVIEW)
    runner.run_until_idle(functions=["IndexHashSetFunction"])
    uploads = {
        "to confirm": ("review-desk/copy to confirm.jpg", jpeg(known, 70)),
        "to look at": ("review-desk/cropped copy.jpg", jpeg(known, 85, crop=0.1)),  # PDQ misses it: local features, outlined
        "false positive": ("review-desk/listed copy.jpg", jpeg(listed, 75)),
        "to release": ("review-desk/held to release.mp4", truncated_video(303)),
        "stale": ("review-desk/held twice.mp4", truncated_video(304)),
    }
    bucket = stack.ref("UploadsBucket")
    made = {}
    for name, (key, body) in uploads.items():
        version = s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
        made[name] = f"s3://{bucket}/{key}?versionId={version}"
    runner.run_until_idle()
    yield made
    hash_set.remove_reference(reference.reference_id)
    pictures.delete(reference.reference_id)
    hash_set.entries.remove("pdq", listed_pdq)
    hash_set.entries.disallow("pdq", listed_pdq)
    runner.run_until_idle()


def start_desk(stack, reviewer: str, care: CareSettings = CareSettings()) -> tuple[DeskServer, Desk]:
    outputs = stack.outputs()
    names = StackNames.of({}, {variable: outputs[output] for variable, output in STACK_VARIABLES.items() if output in outputs})
    identity = stack.identity(reviewer)
    session = boto3.session.Session(aws_access_key_id=identity.access_key, aws_secret_access_key=identity.secret_key, aws_session_token=identity.session_token, region_name=stack.region)
    desk = Desk(session, names, stack.endpoint_url)
    return DeskServer(create_app(desk, care), 0).start(), desk


@pytest.fixture(scope="module")
def desk(stack, items):
    server, desk = start_desk(stack, "reviewer")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def second_desk(stack, items):
    server, desk = start_desk(stack, "second-reviewer")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def desk_suggesting_breaks_early(stack, items):
    server, desk = start_desk(stack, "second-reviewer", CareSettings(break_after_items=2, break_after_minutes=600))
    yield server
    server.stop()


@pytest.fixture
def audit(stack):
    return AuditTable(stack.table("AuditTable"))


def open_item(page, desk: DeskServer, upload_id: str):
    """From the queue, as a reviewer goes: the item's row, then its page."""
    page.goto(desk.url)
    page.locator(f'[data-testid=queue-item][data-upload-id="{upload_id}"] a').click()
    page.wait_for_selector("[data-testid=decide]")
    return page


def decide(page, decision: str, note: str = "") -> str:
    if note:
        page.fill("textarea[name=note]", note)
    page.click(f"[data-testid=decide-{decision}]")
    return page.locator("[data-testid=flash]").first.inner_text()


def online(stack, upload_id: str) -> bool:
    bucket, key = upload_id.removeprefix("s3://").split("?")[0].split("/", 1)
    return "Contents" in stack.client("s3").list_objects_v2(Bucket=bucket, Prefix=key)


def reviewed(audit: AuditTable, upload_id: str) -> list[dict]:
    return [record for record in audit.events(upload_id) if record["event"].startswith("reviewed#")]


def test_the_queue_lists_a_held_upload_and_a_review_match(desk, items, new_page):
    page = new_page()
    page.goto(desk.url)

    rows = {row.get_attribute("data-upload-id"): row.get_attribute("data-kinds") for row in page.locator("[data-testid=queue-item]").all()}

    assert rows[items["to release"]] == "held" and rows[items["to confirm"]] == "review-match"
    if SCREENSHOTS:
        page.screenshot(path=str(DOCS / "review-queue.png"))


def test_pictures_are_blurred_and_grey_until_one_is_revealed_and_blur_again_when_left(desk, items, new_page):
    from playwright.sync_api import expect

    page = open_item(new_page(), desk, items["to look at"])
    pictures = page.locator("[data-picture] img")
    expect(pictures.first).to_have_js_property("complete", True)
    assert pictures.count() >= 2 and page.locator("svg.outline polygon").count() >= 1  # the local-feature match outlined
    for number in range(pictures.count()):
        expect(pictures.nth(number)).to_have_css("filter", BLURRED)
    if SCREENSHOTS:
        page.screenshot(path=str(DOCS / "review-item.png"), full_page=True)

    page.keyboard.press("v")
    expect(pictures.nth(0)).to_have_css("filter", "none")
    expect(pictures.nth(1)).to_have_css("filter", BLURRED)
    page.keyboard.press("v")  # one at a time: the next revealed, the first blurred again
    expect(pictures.nth(0)).to_have_css("filter", BLURRED)
    page.keyboard.press("b")
    expect(pictures.nth(1)).to_have_css("filter", BLURRED)


def test_the_desk_counts_the_items_seen_and_suggests_a_break_after_the_set_number(desk_suggesting_breaks_early, items, new_page):
    page = new_page()
    desk = desk_suggesting_breaks_early
    for name in ("to look at", "false positive", "to look at"):  # the same item twice counts once
        page.goto(f"{desk.url}item/{token_of(items[name])}")
    seen, prompted = page.locator("[data-testid=seen-count]").inner_text(), page.locator("[data-testid=break-prompt]").count()

    page.click("[data-testid=break-prompt] button")

    assert seen.startswith("seen this session: 2") and prompted == 1
    # Back on the item after the break: the first of a new count.
    assert page.locator("[data-testid=break-prompt]").count() == 0 and page.locator("[data-testid=seen-count]").inner_text().startswith("seen this session: 1 ")


def test_pictures_are_never_cached_and_the_page_allows_no_other_origin(desk, items, new_page):
    page = open_item(new_page(), desk, items["to look at"])

    answer = page.request.get(desk.url.rstrip("/") + page.locator("[data-picture] img").first.get_attribute("src"))

    assert answer.status == 200 and answer.headers["content-type"] == "image/jpeg"
    assert answer.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in answer.headers["content-security-policy"]


def test_confirming_a_review_match_takes_it_down_under_the_reviewers_identity(stack, desk, items, audit, new_page):
    upload_id = items["to confirm"]
    page = open_item(new_page(), desk, upload_id)

    page.fill("textarea[name=note]", "the known picture")
    page.locator("textarea[name=note]").blur()  # out of the note: the keys are the desk's again
    page.keyboard.press("c")  # the first press selects Confirm, the second decides
    page.keyboard.press("c")
    page.wait_for_selector("[data-testid=flash]")

    assert not online(stack, upload_id)
    assert audit.get(upload_id, "takedown")["outcome"] == "quarantined"
    [decision] = reviewed(audit, upload_id)
    assert (decision["decision"], decision["reviewer"], decision["note"]) == ("confirm", stack.identity("reviewer").arn, "the known picture")


def test_releasing_a_held_upload_restores_it_as_the_reviewer(stack, runner, desk, items, audit, new_page):
    upload_id = items["to release"]
    assert audit.get(upload_id, "takedown")["outcome"] == "held" and not online(stack, upload_id)
    page = open_item(new_page(), desk, upload_id)

    told = decide(page, "release", note="a home video that would not decode")

    assert "decided" in told
    assert online(stack, upload_id)
    restored = audit.get(upload_id, "restored")
    assert restored["requested_by"] == stack.identity("reviewer").arn and restored["scope"] == "upload"
    runner.run_until_idle()  # the restored object is checked again: exempted at its key, it is not held again
    assert online(stack, upload_id)


def test_a_false_positive_allow_lists_the_listed_hash_and_leaves_the_upload_online(stack, desk, items, audit, new_page):
    upload_id = items["false positive"]
    page = open_item(new_page(), desk, upload_id)
    entry_id = page.locator("[data-testid=listing] code").first.inner_text()

    told = decide(page, "false-positive", note="a holiday photo")

    assert "decided" in told and online(stack, upload_id)
    kind, value = entry_id.split(":", 1)
    allowed = HashSetTable(stack.table("HashSetTable")).entries.get(kind, value).allowed
    assert allowed["allowed_by"] == stack.identity("reviewer").arn and "a holiday photo" in allowed["reason"]
    assert [record["decision"] for record in reviewed(audit, upload_id)] == ["false-positive"]


def test_a_second_reviewers_stale_decision_is_refused(stack, desk, second_desk, items, audit, new_page):
    upload_id = items["stale"]
    first, second = open_item(new_page(), desk, upload_id), open_item(new_page(), second_desk, upload_id)

    decide(first, "confirm")
    told = decide(second, "release")

    assert "stale" in told and stack.identity("reviewer").arn in told
    assert [(r["decision"], r["reviewer"]) for r in reviewed(audit, upload_id)] == [("confirm", stack.identity("reviewer").arn)]
    assert audit.get(upload_id, "restored") is None and not online(stack, upload_id)


def test_a_decision_without_the_pages_csrf_token_is_refused(desk, items, new_page):
    page = new_page()
    page.goto(f"{desk.url}item/{token_of(items['stale'])}")
    version = page.locator("input[name=version]").get_attribute("value")

    answer = page.request.post(f"{desk.url}item/{token_of(items['stale'])}/decide", form={"decision": "escalate", "version": version})

    assert answer.status == 400 and "CSRF" in answer.text()


def test_a_request_addressed_to_another_host_is_refused(desk):
    request = urllib.request.Request(desk.url, headers={"Host": f"desk.example.org:{desk.port}"})

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)

    assert refused.value.code == 400


def test_the_desk_serves_no_credentials(stack, desk, items):
    page = urllib.request.urlopen(desk.url, timeout=30).read().decode()

    identity = stack.identity("reviewer")
    assert identity.secret_key not in page and identity.session_token not in page and identity.access_key not in page
    assert json.dumps(identity.arn).strip('"') in page
