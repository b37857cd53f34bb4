"""The hash set's manifest signed and verified with a KMS asymmetric key (ECC_NIST_P256, ECDSA_SHA_256).

The indexer (and an operator's `hashmatch admin hashset reindex` / `accept-shrink`) may use the key to sign;
matchers and the lookup API may only verify (the key's policy in template.yaml). A reader verifies with the
key it is configured with (MANIFEST_KEY_ID), never with the one a manifest names, so a manifest signed with
any other key is refused. What is signed is the manifest's fields but the signature (Manifest.signed_payload),
which includes every object's digests: an object altered after signing fails the reader's digest check, a
field altered fails the signature.
"""

from __future__ import annotations

import base64
from dataclasses import replace

from botocore.exceptions import ClientError

from hashmatch.aws.hash_set.store import Manifest
from hashmatch.aws.s3_objects import error_code

SIGNING_ALGORITHM = "ECDSA_SHA_256"


class ManifestUntrusted(ValueError):
    """A manifest that is unsigned, or whose signature the configured key does not verify: not believed."""


class ManifestSigner:
    """Signs and verifies manifests with one KMS key (a boto3 KMS client and the key's id, ARN or alias)."""

    def __init__(self, kms, key_id: str):
        self.kms = kms
        self.key_id = key_id

    def sign(self, manifest: Manifest) -> Manifest:
        """The manifest with its signature (any earlier signature replaced)."""
        unsigned = replace(manifest, signature=None, signing_key=None)
        answer = self.kms.sign(KeyId=self.key_id, Message=unsigned.signed_payload(), MessageType="RAW", SigningAlgorithm=SIGNING_ALGORITHM)
        return replace(unsigned, signature=base64.b64encode(answer["Signature"]).decode(), signing_key=answer.get("KeyId", self.key_id))

    def verify(self, manifest: Manifest) -> None:
        """ManifestUntrusted unless the configured key verifies the manifest's signature."""
        if not manifest.signature:
            raise ManifestUntrusted(f"manifest {manifest.sequence} is not signed")
        try:
            signature = base64.b64decode(manifest.signature, validate=True)
        except ValueError:
            raise ManifestUntrusted(f"manifest {manifest.sequence}: its signature is not base64") from None
        try:
            answer = self.kms.verify(KeyId=self.key_id, Message=manifest.signed_payload(), MessageType="RAW", Signature=signature, SigningAlgorithm=SIGNING_ALGORITHM)
        except ClientError as error:
            # KMS answers an invalid signature with an error, not with SignatureValid false.
            if error_code(error) in ("KMSInvalidSignatureException", "InvalidSignatureException", "ValidationException"):
                raise ManifestUntrusted(f"manifest {manifest.sequence}: the signing key does not verify its signature ({error_code(error)})") from None
            raise
        if not answer.get("SignatureValid"):
            raise ManifestUntrusted(f"manifest {manifest.sequence}: the signing key does not verify its signature")
