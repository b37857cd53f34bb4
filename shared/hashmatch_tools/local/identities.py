"""The IAM identities of the local stack: whose keys sign what, since moto checks no signature and the local function URLs stand in for IAM."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from hashmatch_tools.local.server import ACCOUNT_ID

# Another account, for callers from outside (a partner's role).
PARTNER_ACCOUNT_ID = "210987654321"
# The role whose sessions see labels in the local stack's lookup API (LookupLabelsRoleNames).
LABELS_READER_ROLE = "hashmatch-labels-reader"
# The role whose sessions may restore uploads through RestoreUploadFunctionUrl (RestoreRoleName).
RESTORER_ROLE = "hashmatch-restorer"
# The reviewers' role (EvidenceReaderRoleName): `hashmatch review` runs as its sessions. Unlike the fixed identities
# below, its sessions are made by moto's STS (role_sessions, when LocalStack starts), so that sts get-caller-identity
# names them as AWS does.
REVIEWER_ROLE = "hashmatch-reviewer"
# The local reviewers: two sessions of the reviewers' role, as two moderators at their desks.
REVIEWER_SESSIONS = ("reviewer", "second-reviewer")
# The operators' role (OperatorRoleName): the local operator is a session of it, so it may redrive, reindex and sign.
OPERATOR_ROLE = "hashmatch-operator"
# A role of this account with broad rights of its own (a CI or developer role): what the channels' policies keep out.
INTRUDER_ROLE = "hashmatch-ci"


@dataclass(frozen=True)
class LocalIdentity:
    """An IAM identity the local function URLs accept: requests signed with its keys are its (IAM's part, locally)."""

    name: str
    access_key: str
    secret_key: str
    arn: str
    user_id: str  # what IAM reports as callerId/userId: AIDA... for a user, AROA...:session for a role session
    session_token: str | None = None  # temporary credentials (a session STS made) carry one

    @property
    def account(self) -> str:
        return self.arn.split(":")[4]

    @property
    def environment(self) -> dict[str, str]:
        """The variables that make boto3 (and the hashmatch commands) sign as this identity."""
        keys = {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
        return {**keys, "AWS_SESSION_TOKEN": self.session_token} if self.session_token else keys

    @property
    def principal_arn(self) -> str:
        """aws:PrincipalArn of its requests: a role session's role, else its own ARN."""
        from hashmatch_tools.local.policy_gate import principal_arn

        return principal_arn(self.arn)


def function_identity(logical_id: str, role_arn: str) -> LocalIdentity:
    """A function's execution role session, as Lambda gives each invocation: keys of its own, so the policy gate knows it."""
    suffix = hashlib.sha256(logical_id.encode()).hexdigest()[:16].upper()
    account, role = role_arn.split(":")[4], role_arn.rsplit("/", 1)[1]
    return LocalIdentity(logical_id, f"ASIALOCALFN{suffix}", f"{logical_id}-secret", f"arn:aws:sts::{account}:assumed-role/{role}/{logical_id}", f"AROALOCALFN{suffix}:{logical_id}")


# The keys the stack's own environment exports (AWS_ACCESS_KEY_ID=testing) are the operator's, a session of the
# operators' role (OperatorRoleName locally); the others are role sessions too, as partners call the API.
LOCAL_IDENTITIES = (
    LocalIdentity("operator", "testing", "testing", f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{OPERATOR_ROLE}/local-operator", "AROALOCALOPERATOR0001:local-operator"),
    LocalIdentity("labels-reader", "ASIALOCALLABELSREADER", "labels-reader-secret", f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{LABELS_READER_ROLE}/local", "AROALOCALLABELSREADER:local"),
    LocalIdentity("partner", "ASIALOCALPARTNER0001", "partner-secret", f"arn:aws:sts::{PARTNER_ACCOUNT_ID}:assumed-role/hashmatch-partner/local", "AROALOCALPARTNER0001:local"),
    # A role of another account that took the labels role's name: it must not see labels.
    LocalIdentity("impostor", "ASIALOCALIMPOSTOR001", "impostor-secret", f"arn:aws:sts::{PARTNER_ACCOUNT_ID}:assumed-role/{LABELS_READER_ROLE}/local", "AROALOCALIMPOSTOR001:local"),
    # An operator who assumed the restore role (hashmatch admin restore signs as this).
    LocalIdentity("restorer", "ASIALOCALRESTORER001", "restorer-secret", f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{RESTORER_ROLE}/local", "AROALOCALRESTORER001:local"),
    # A CI or developer role of this account whose own policies allow it anything: the channels' resource policies deny it.
    LocalIdentity("intruder", "ASIALOCALINTRUDER001", "intruder-secret", f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{INTRUDER_ROLE}/local", "AROALOCALINTRUDER001:local"),
)
OPERATOR = LOCAL_IDENTITIES[0]


def role_sessions(iam, sts, role_name: str, sessions: tuple[str, ...]) -> tuple[LocalIdentity, ...]:
    """A role of the local account and sessions of it made by moto's STS (AssumeRole), whose keys moto knows:
    `sts get-caller-identity` with them names the session as AWS would, and the function URLs accept them."""
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "sts:AssumeRole"}]}
    role_arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    made = []
    for session in sessions:
        answer = sts.assume_role(RoleArn=role_arn, RoleSessionName=session, DurationSeconds=43200)
        keys, user = answer["Credentials"], answer["AssumedRoleUser"]
        made.append(LocalIdentity(session, keys["AccessKeyId"], keys["SecretAccessKey"], user["Arn"], user["AssumedRoleId"], keys["SessionToken"]))
    return tuple(made)
