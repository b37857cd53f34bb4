"""The message models and the schemas they generate: schemas/ is what the models generate, what the pipeline sends both accept, what the schema refuses the model refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import jsonschema
import pytest
from pydantic import ValidationError

from hashmatch.hash_set.snapshot import KnownItem
from hashmatch.matching.assembly import HashSetVersion, KnownItemMatch, hash_set_matcher, references_view
from hashmatch.matching.verdict import Verdict
from hashmatch.messages.building import hold_message, match_message
from hashmatch.messages.hashes import DetailPicturesObject, HashesMessage, StoredPicture, Unchecked
from hashmatch.messages.models import (
    ActionValue,
    HashesMessageModel,
    HoldMessage,
    MatchMessage,
    MediaKindValue,
    RestoreRequest,
    RestoreRequestBody,
    StageValue,
)
from hashmatch.media.hashing import hash_media
from hashmatch.model import MediaHashes
from hashmatch.signals import PRIMARY_SIGNAL
from hashmatch.uploads import Upload
from hashmatch.vocabulary import Action, CannotCheckReason, Role, Stage
from hashmatch_tools import schemas
from hashmatch_tools.adversarial import second_video_track
from hashmatch_tools.made_media import encode_video, panning
from hashmatch_tools.matching import hash_reference
from tests.samples import event, sample_hashes_message, sample_match_message

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
MATCH_SCHEMA = json.loads((SCHEMAS / "match-message.schema.json").read_text())
HASHES_SCHEMA = json.loads((SCHEMAS / "hashes-message.schema.json").read_text())
HOLD_SCHEMA = json.loads((SCHEMAS / "hold-message.schema.json").read_text())
RESTORE_SCHEMA = json.loads((SCHEMAS / "restore-request.schema.json").read_text())
MATCH_ID = "3f2504e0-4f89-5d3a-9a0c-0305e82c3301"
SHA256 = "a" * 64


def sample_restore_call() -> tuple[dict, str]:
    """The body of events/restore_upload.json (a function URL request) and the ARN that signed it."""
    sample = event("restore_upload")
    return json.loads(sample["body"]), sample["requestContext"]["authorizer"]["iam"]["userArn"]


def schema_errors(message: dict, schema: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    return [error.message for error in validator.iter_errors(message)]


def assert_refused_by_schema_and_model(message: dict, schema: dict, model) -> None:
    assert schema_errors(message, schema), "the schema accepts it"
    with pytest.raises(ValidationError):
        model.model_validate_json(json.dumps(message))


def known_item(action: Action = Action.QUARANTINE) -> KnownItem:
    return KnownItem("ref-1", ("known image",), "hash list A", "image", 0.0, action)


def pdq_verdict() -> Verdict:
    return Verdict(True, 100.0, 100.0, 1, 1, [0.0], [0.0], 4, Stage.PDQ, threshold=31)


def orb_verdict() -> Verdict:
    return Verdict(True, 100.0, 100.0, 1, 1, [0.0], [0.0], None, Stage.LOCAL_FEATURES, 287, threshold=30)


def md5_verdict() -> Verdict:
    return Verdict(True, 100.0, 100.0, 1, 1, [0.0], [0.0], 0, Stage.MD5, threshold=0)


def request() -> HashesMessage:
    sample = sample_hashes_message()
    return HashesMessage(Upload.from_dict(sample["upload"]), MediaHashes.from_dict(sample["hashes"]), sample["hashed_at"])


def published(message) -> dict:
    """A built message as it leaves: its JSON, read back."""
    return json.loads(message.model_dump_json())


def unchecked_request(reason: str = "oversized") -> HashesMessage:
    upload = Upload.from_object("uploads", "clip.mp4", "v1", etag="e" * 32, size=9, uploader="AWS:AIDAEXAMPLE", source_ip="198.51.100.7")
    return HashesMessage(upload, None, "2026-12-05T08:00:00.000+00:00", unchecked=Unchecked(CannotCheckReason(reason), "over the limit", SHA256))


# ------------------------------------------------------------------ schemas/ is what the models generate


def test_schemas_hold_what_the_models_generate():
    stale = schemas.differences(SCHEMAS)

    assert stale == {}, "schemas/ is stale; run python -m hashmatch_tools.schemas --write:\n" + "".join(line for lines in stale.values() for line in lines)


def test_each_schema_is_draft_2020_12_and_valid_as_one():
    for file_name in schemas.SCHEMAS:
        schema = json.loads((SCHEMAS / file_name).read_text())

        jsonschema.Draft202012Validator.check_schema(schema)
        assert (schema["$schema"], schema["$id"]) == (schemas.DRAFT, schemas.schema_id(file_name))


def test_each_schema_is_described_by_its_models_docstring():
    for file_name, (model, _) in schemas.SCHEMAS.items():
        assert schemas.schema_of(file_name)["description"] == " ".join(model.__doc__.split())


def test_the_schema_command_reports_a_stale_schema_and_exits_1(tmp_path, capsys):
    schemas.main(["--write", "--directory", str(tmp_path)])
    edited = tmp_path / "match-message.schema.json"
    edited.write_text(edited.read_text().replace('"hashmatch match message"', '"edited by hand"'))

    assert schemas.main(["--directory", str(tmp_path)]) == 1
    assert '-  "title": "edited by hand",' in capsys.readouterr().out


def test_the_schema_command_writes_what_the_models_generate(tmp_path):
    schemas.main(["--write", "--directory", str(tmp_path)])

    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(schemas.SCHEMAS)
    assert schemas.main(["--directory", str(tmp_path)]) == 0


def test_a_schema_file_no_model_generates_is_stale(tmp_path):
    schemas.main(["--write", "--directory", str(tmp_path)])
    (tmp_path / "old-message.schema.json").write_text("{}")

    assert list(schemas.differences(tmp_path)) == ["old-message.schema.json"]


# ------------------------------------------------------------------ events/ parse through the models and conform to the schemas


def test_the_take_down_sample_match_message_is_valid_against_the_schema():
    assert schema_errors(sample_match_message(), MATCH_SCHEMA) == []


def test_the_match_hashes_sample_event_is_valid_against_the_schema():
    assert schema_errors(sample_hashes_message(), HASHES_SCHEMA) == []


def test_the_match_hashes_sample_event_parses_as_a_hashes_message():
    message = HashesMessageModel.model_validate_json(event("match_hashes")["Records"][0]["body"])

    assert message.upload.key == "incoming/photo 01.jpg" and len(message.hashes.frames) == 1


def test_the_restore_upload_sample_body_is_valid_against_the_schema():
    body, _ = sample_restore_call()

    assert schema_errors(body, RESTORE_SCHEMA) == []


def test_the_restore_upload_sample_event_parses_as_a_restore_request_by_its_signer():
    body, signer = sample_restore_call()

    request = RestoreRequest.from_call(body, signer)

    assert (request.requested_by, request.scope) == ("arn:aws:sts::123456789012:assumed-role/hashmatch-restorer/reviewer@example.org", "upload")


def test_the_sample_match_message_reads_back_as_the_same_json():
    sample = sample_match_message()

    assert MatchMessage.model_validate(sample).model_dump_json() == json.dumps(sample, separators=(",", ":"))


# ------------------------------------------------------------------ model-built messages are what the schema defines


def test_a_model_built_pdq_match_message_is_valid_against_the_schema():
    message = match_message(request(), [KnownItemMatch(known_item(), pdq_verdict())], MATCH_ID)

    assert schema_errors(published(message), MATCH_SCHEMA) == []


def test_a_model_built_orb_match_message_is_valid_against_the_schema():
    message = published(match_message(request(), [KnownItemMatch(known_item(), orb_verdict())], MATCH_ID))

    assert schema_errors(message, MATCH_SCHEMA) == []
    assert (message["matches"][0]["signal_type"], message["matches"][0]["distance"]) == ("orb", None)


def test_a_model_built_exact_digest_match_message_is_valid_against_the_schema():
    message = published(match_message(request(), [KnownItemMatch(known_item(), md5_verdict())], MATCH_ID))

    assert schema_errors(message, MATCH_SCHEMA) == []
    assert (message["matches"][0]["signal_type"], message["matches"][0]["distance"]) == ("md5", 0)


def test_a_model_built_retroactive_match_message_is_valid_against_the_schema():
    message = published(match_message(request(), [KnownItemMatch(known_item(), pdq_verdict())], MATCH_ID, retroactive=True))

    assert schema_errors(message, MATCH_SCHEMA) == [] and message["retroactive"] is True


def test_a_model_built_match_message_keeps_the_enums_values():
    message = published(match_message(request(), [KnownItemMatch(known_item(Action.REVIEW), pdq_verdict())], MATCH_ID))

    assert (message["action"], message["matches"][0]["action"], message["matches"][0]["signal_type"], message["media"]["kind"]) == ("review", "review", "pdq", "image")


def test_a_match_to_a_known_second_video_stream_says_which_stream_and_which_rule_decided():
    known = [frame for scene in range(8) for frame in panning(301 + scene, 20, 160, 120, speed=2)]
    benign = [frame for scene in range(8) for frame in panning(601 + scene, 20, 160, 120, speed=2)]
    view = references_view({"known": hash_reference(encode_video(known, fps=10))})
    hashes = hash_media(second_video_track(known, benign), role=Role.UPLOAD)
    _, matches = HashSetVersion(view, hash_set_matcher(view, PRIMARY_SIGNAL.match_threshold), 1).match(hashes)
    sample = sample_hashes_message()

    message = published(match_message(HashesMessage(Upload.from_dict(sample["upload"]), hashes, sample["hashed_at"]), matches, MATCH_ID))

    [entry] = message["matches"]
    assert entry["track"] == "video stream 1" and entry["rule"] == "query_share"
    assert schema_errors(message, MATCH_SCHEMA) == []


def test_a_match_message_without_matches_is_not_built():
    with pytest.raises(ValidationError):
        match_message(request(), [], MATCH_ID)


def test_a_built_hashes_message_with_detail_pictures_is_valid_against_the_schema():
    pictures = DetailPicturesObject("details", "details/x.jpegs", (StoredPicture(0.0, 0, 10, ((0.1, 0.9, 0.2, 0.8),)), StoredPicture(2.0, 10, 5)))
    sent = HashesMessage(request().upload, request().hashes, "2026-12-05T08:00:00.000+00:00", pictures).to_dict()

    assert schema_errors(sent, HASHES_SCHEMA) == []


def test_a_claim_checked_hashes_message_is_valid_against_the_schema_and_model():
    sent = {**request().to_dict(), "hashes": None, "hashes_location": {"bucket": "hashes", "key": "uploads/x.json"}}

    assert schema_errors(sent, HASHES_SCHEMA) == []
    assert HashesMessageModel.model_validate_json(json.dumps(sent)).hashes_location.key == "uploads/x.json"


def test_an_unchecked_hashes_message_is_valid_against_the_schema():
    assert schema_errors(unchecked_request().to_dict(), HASHES_SCHEMA) == []


def test_a_model_built_hold_message_is_valid_against_the_schema_and_keeps_the_uploader():
    hold = published(hold_message(unchecked_request(), "oversized", "over the limit"))

    assert schema_errors(hold, HOLD_SCHEMA) == []
    assert (hold["action"], hold["upload"]["sha256"], hold["upload"]["uploader"]) == ("hold", SHA256, "AWS:AIDAEXAMPLE")


def test_a_hold_message_of_a_partial_hash_is_valid_against_the_schema():
    hashes = MediaHashes.from_dict({**sample_hashes_message()["hashes"], "kind": "video", "duration": 10.0, "partial": True, "covered_seconds": 3.0})
    hold = published(hold_message(HashesMessage(request().upload, hashes, "2026-12-05T08:00:00.000+00:00"), "partial", "matched nothing in 3 s"))

    assert schema_errors(hold, HOLD_SCHEMA) == []
    assert (hold["media_kind"], hold["covered_seconds"]) == ("video", 3.0)


# ------------------------------------------------------------------ what the schema refuses, the model refuses


def test_a_match_message_without_match_id_is_refused():
    message = sample_match_message()
    del message["match_id"]

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_a_match_id_that_is_not_a_uuid_is_refused():
    message = {**sample_match_message(), "match_id": "match-17"}

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_a_match_message_with_an_unknown_action_is_refused():
    message = {**sample_match_message(), "action": "delete"}

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_a_match_message_of_another_version_is_refused():
    message = {**sample_match_message(), "message_version": 1}

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_a_match_message_with_a_field_the_schema_does_not_define_is_refused():
    message = sample_match_message()
    message["upload"]["owner"] = "someone"

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_a_match_message_without_matches_is_refused():
    message = {**sample_match_message(), "matches": []}

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_a_match_with_an_unknown_signal_type_is_refused():
    message = sample_match_message()
    message["matches"][0]["signal_type"] = "phash"

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_an_orb_match_with_a_distance_is_refused():
    message = sample_match_message()
    message["matches"][0].update(signal_type="orb", distance=4, inliers=287)

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_an_orb_match_without_inliers_is_refused():
    message = sample_match_message()
    message["matches"][0].update(signal_type="orb", distance=None, inliers=0)

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_a_pdq_match_with_inliers_is_refused():
    message = sample_match_message()
    message["matches"][0]["inliers"] = 40

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_an_exact_digest_match_needs_distance_zero():
    message = sample_match_message()
    message["matches"][0].update(signal_type="md5", distance=3, inliers=None)

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)
    with pytest.raises(ValidationError, match="distance 0"):
        MatchMessage.model_validate(message)


def test_a_distance_written_as_a_string_is_refused():
    message = sample_match_message()
    message["matches"][0]["distance"] = "4"

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_a_percentage_over_100_is_refused():
    message = sample_match_message()
    message["matches"][0]["query_match_percent"] = 100.5

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_an_upload_sha256_that_is_not_hex_is_refused():
    message = sample_match_message()
    message["upload"]["sha256"] = "not-a-digest"

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_a_hashes_message_with_a_malformed_pdq_hash_is_refused():
    message = sample_hashes_message()
    message["hashes"]["frames"][0]["pdq"] = "not-a-pdq-hash"

    assert_refused_by_schema_and_model(message, HASHES_SCHEMA, HashesMessageModel)


def test_a_hashes_message_with_null_hashes_and_no_location_is_refused():
    message = {**sample_hashes_message(), "hashes": None}

    assert_refused_by_schema_and_model(message, HASHES_SCHEMA, HashesMessageModel)


def test_a_hashes_message_with_null_hashes_and_a_null_location_is_refused():
    message = {**sample_hashes_message(), "hashes": None, "hashes_location": None}

    assert_refused_by_schema_and_model(message, HASHES_SCHEMA, HashesMessageModel)


def test_a_hashes_message_without_upload_id_is_refused():
    message = sample_hashes_message()
    del message["upload"]["upload_id"]

    assert_refused_by_schema_and_model(message, HASHES_SCHEMA, HashesMessageModel)


def test_a_message_of_another_type_is_not_read_as_hashes():
    message = {**sample_hashes_message(), "message_type": "hashmatch.match"}

    assert_refused_by_schema_and_model(message, HASHES_SCHEMA, HashesMessageModel)


def test_details_with_more_than_16_pictures_are_refused():
    message = {**sample_hashes_message(), "details": {"bucket": "details", "key": "details/x.jpegs", "pictures": [{"timestamp": 0.0, "offset": 0, "length": 1}] * 17}}

    assert_refused_by_schema_and_model(message, HASHES_SCHEMA, HashesMessageModel)


def test_an_inset_that_is_not_four_shares_is_refused():
    picture = {"timestamp": 0.0, "offset": 0, "length": 10, "insets": [[0.1, 0.5, 0.2]]}
    message = {**sample_hashes_message(), "details": {"bucket": "details", "key": "details/x.jpegs", "pictures": [picture]}}

    assert_refused_by_schema_and_model(message, HASHES_SCHEMA, HashesMessageModel)


def test_a_hashes_message_with_an_uppercase_digest_is_refused_at_the_edge():
    body = sample_hashes_message()
    body["hashes"]["md5"] = body["hashes"]["md5"].upper()

    assert_refused_by_schema_and_model(body, HASHES_SCHEMA, HashesMessageModel)


def test_an_unchecked_message_without_the_objects_sha256_is_refused_by_schema_and_model():
    sent = unchecked_request().to_dict()
    del sent["unchecked"]["sha256"]

    assert_refused_by_schema_and_model(sent, HASHES_SCHEMA, HashesMessageModel)


def test_a_hashes_message_with_neither_hashes_nor_a_reason_is_refused_by_schema_and_model():
    sent = unchecked_request().to_dict()
    del sent["unchecked"]

    assert_refused_by_schema_and_model(sent, HASHES_SCHEMA, HashesMessageModel)


def test_a_hold_message_of_an_unknown_reason_is_refused_by_schema_and_model():
    hold = published(hold_message(unchecked_request(), "oversized", "over the limit"))
    hold["reason"] = "tired"

    assert_refused_by_schema_and_model(hold, HOLD_SCHEMA, HoldMessage)


# ------------------------------------------------------------------ the restore request


def test_a_restore_request_with_an_empty_reason_is_refused():
    body, signer = sample_restore_call()

    assert schema_errors({**body, "reason": ""}, RESTORE_SCHEMA)
    with pytest.raises(ValidationError, match="reason"):
        RestoreRequest.from_call({**body, "reason": ""}, signer)


def test_a_restore_request_without_a_signer_is_refused():
    body, _ = sample_restore_call()

    with pytest.raises(ValidationError, match="requested_by"):
        RestoreRequest.from_call(body, "")


def test_a_restore_body_naming_its_own_requester_is_refused_by_schema_and_model():
    body, signer = sample_restore_call()
    forged = {**body, "requested_by": "someone-else"}

    assert schema_errors(forged, RESTORE_SCHEMA)
    with pytest.raises(ValueError, match="requested_by"):
        RestoreRequest.from_call(forged, signer)


def test_a_restore_request_of_an_unknown_scope_is_refused_by_schema_and_model():
    body, signer = sample_restore_call()
    wide = {**body, "scope": "uploader"}

    assert schema_errors(wide, RESTORE_SCHEMA)
    with pytest.raises(ValidationError, match="scope"):
        RestoreRequest.from_call(wide, signer)


def test_a_restore_request_without_a_scope_exempts_the_upload_only():
    body, signer = sample_restore_call()
    del body["scope"]

    assert RestoreRequest.from_call(body, signer).scope == "upload"


def test_the_restore_schema_and_model_name_the_audit_logs_exemption_scopes_a_restore_may_ask_for():
    from hashmatch.audit import ExemptionScope

    # VERSION is the restore's own, for an upload held unread: never asked for.
    scopes = {scope.value for scope in ExemptionScope} - {ExemptionScope.VERSION.value}
    assert set(RESTORE_SCHEMA["properties"]["scope"]["enum"]) == scopes == set(get_args(RestoreRequestBody.model_fields["scope"].annotation))


# ------------------------------------------------------------------ closed sets: hashmatch.vocabulary and the schemas


def test_the_message_schemas_name_the_same_closed_sets():
    entry = MATCH_SCHEMA["$defs"]["ReferenceMatchEntry"]["properties"]
    assert set(MATCH_SCHEMA["properties"]["action"]["enum"]) == set(entry["action"]["enum"]) == set(get_args(ActionValue))
    assert set(entry["signal_type"]["enum"]) == set(get_args(StageValue))
    assert set(MATCH_SCHEMA["$defs"]["MatchedMedia"]["properties"]["kind"]["enum"]) == set(get_args(MediaKindValue))


def test_the_published_match_message_version_is_one_the_schema_and_the_takedown_accept():
    built = match_message(request(), [KnownItemMatch(known_item(), pdq_verdict())], MATCH_ID)

    assert MATCH_SCHEMA["properties"]["message_version"]["enum"][-1] == built.message_version
