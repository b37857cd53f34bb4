"""Evidence: where a quarantined upload is kept, and why a takedown or a restore may be refused (the quarantine's
own terms, shared by the take-down and restore use cases and the S3 quarantine that carries them out)."""

from __future__ import annotations

from dataclasses import dataclass

from hashmatch.uploads import Upload


class NotTheMatchedObject(Exception):
    """The object a match message names is not provably the one that was hashed: no version named, another ETag
    or size, other bytes. Nothing is copied or removed."""


class KeyOccupied(Exception):
    """A restore would overwrite an object uploaded to the key since the takedown: refused."""


@dataclass(frozen=True)
class Evidence:
    bucket: str
    key: str
    version_id: str | None
    retain_until: str


def evidence_key(upload: Upload) -> str:
    """Where an upload is kept: by bucket and version, so two versions of one key never collide."""
    return f"{upload.bucket}/{upload.version_id or 'null'}/{upload.key}"
