"""Who may restore: sessions of the restore role, and of the reviewers' role (who release held uploads from the review desk)."""

from __future__ import annotations

from hashmatch.callers import Caller
from hashmatch.usecases.ports import NoMetrics
from hashmatch.usecases.restore_upload import Restorer, may_restore

ACCOUNT = "123456789012"


def restorer(restore_roles: set[str], reviewer_roles: set[str] = frozenset()) -> Restorer:
    return Restorer(None, None, 365, frozenset(restore_roles), ACCOUNT, None, NoMetrics(), reviewer_roles=frozenset(reviewer_roles))


def session(role: str, account: str = ACCOUNT) -> Caller:
    return Caller.from_arn(f"arn:aws:sts::{account}:assumed-role/{role}/someone")


def test_a_session_of_the_reviewers_role_may_restore_beside_the_restore_role():
    allowed = restorer({"hashmatch-restorer"}, {"hashmatch-reviewer"})

    assert may_restore(session("hashmatch-reviewer"), allowed) and may_restore(session("hashmatch-restorer"), allowed)


def test_a_session_of_another_role_may_not_restore():
    assert not may_restore(session("hashmatch-uploader"), restorer({"hashmatch-restorer"}, {"hashmatch-reviewer"}))


def test_the_reviewers_role_of_another_account_may_not_restore():
    assert not may_restore(session("hashmatch-reviewer", "210987654321"), restorer({"hashmatch-restorer"}, {"hashmatch-reviewer"}))
