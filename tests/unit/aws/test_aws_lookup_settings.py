"""The lookup function's settings: the labels roles may be empty (nobody sees labels), but must be set."""

from __future__ import annotations

import pytest

from hashmatch.aws import settings

ENVIRONMENT = {
    "HASH_SET_TABLE": "hash-set",
    "SNAPSHOT_BUCKET": "snapshots",
    "THROTTLE_TABLE": "throttle",
    "PDQ_MATCH_THRESHOLD": "31",
    "HASH_SET_REFRESH_SECONDS": "2",
    "LOOKUP_HASHES_PER_MINUTE": "300",
    "LOOKUP_HASHES_PER_DAY": "20000",
    "LOOKUP_ACCOUNT_HASHES_PER_MINUTE": "1000",
    "LOOKUP_LABELS_ROLE_NAMES": "",
    "MANIFEST_KEY_ID": "arn:aws:kms:eu-west-1:123456789012:key/manifest",
    "HASH_SET_STALENESS_LIMIT_SECONDS": "600",
}


def test_empty_labels_roles_mean_nobody_sees_labels():
    assert settings.load(settings.LookUpHashesSettings, ENVIRONMENT).lookup_labels_role_names == frozenset()


def test_labels_roles_are_read_as_a_set_of_names():
    loaded = settings.load(settings.LookUpHashesSettings, {**ENVIRONMENT, "LOOKUP_LABELS_ROLE_NAMES": "labels-reader, trust-and-safety"})

    assert loaded.lookup_labels_role_names == {"labels-reader", "trust-and-safety"}


def test_the_labels_roles_variable_must_still_be_set():
    environment = {name: value for name, value in ENVIRONMENT.items() if name != "LOOKUP_LABELS_ROLE_NAMES"}

    with pytest.raises(settings.SettingsError, match="LOOKUP_LABELS_ROLE_NAMES is not set"):
        settings.load(settings.LookUpHashesSettings, environment)


def test_other_variables_may_not_be_empty():
    with pytest.raises(settings.SettingsError, match="THROTTLE_TABLE is not set"):
        settings.load(settings.LookUpHashesSettings, {**ENVIRONMENT, "THROTTLE_TABLE": ""})
