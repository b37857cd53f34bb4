"""Who signed a call: the IAM identity a function URL authenticated (never a field of the body), and what it may do.

The lookup API and the restore URL both take their caller from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

_CALLER_ARN = re.compile(r"arn:(?P<partition>[\w-]+):(?P<service>iam|sts)::(?P<account>\d{12}):(?P<resource>.+)")


@dataclass(frozen=True)
class Caller:
    """Who signed a request, from the ARN IAM authenticated (never from the body)."""

    arn: str
    account: str
    role_name: str | None  # set for an assumed-role session

    @classmethod
    def from_arn(cls, arn: str) -> "Caller":
        found = _CALLER_ARN.fullmatch(arn or "")
        if not found:
            raise ValueError(f"not an IAM caller ARN: {arn!r:.120}")
        resource = found["resource"]
        role = None
        if found["service"] == "sts" and resource.startswith("assumed-role/"):
            parts = resource.split("/")
            if len(parts) < 3:
                raise ValueError(f"an assumed-role ARN names its role and session: {arn!r:.120}")
            role = parts[1]
        return cls(arn, found["account"], role)

    @property
    def federated(self) -> bool:
        """A federated user's session (sts GetFederationToken): its name is chosen by whoever asked for the token."""
        return ":federated-user/" in self.arn

    @property
    def principal(self) -> str:
        """What the budget is kept for: the role, not the session (a new session name must not buy a new budget); for a
        federated user, every federated user of its account together (the name is the caller's to choose, and the IAM
        user that made the token is not in the request); else the ARN (an IAM user)."""
        if self.federated:
            return self.arn.split(":federated-user/", 1)[0] + ":federated-user/*"
        if self.role_name is None:
            return self.arn
        return self.arn.rsplit("/", 1)[0]

    def is_role_session_of(self, own_account: str, role_names: Iterable[str]) -> bool:
        """A session of one of these roles of the stack's own account (a role of the same name elsewhere is not)."""
        return self.role_name is not None and self.account == own_account and self.role_name in set(role_names)
