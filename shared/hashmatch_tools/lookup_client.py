"""`hashmatch check`: send hashes to a stack's lookup API (SigV4-signed, the default AWS credentials) and print each hash's answer.

What it reads (--hashes FILE, or - for stdin), one item a line; blank lines and # comments skipped:
  <64 hex>               a PDQ hash (no quality: searched as usable)
  <32 hex>               an MD5
  pdq:<hex> | md5:<hex> | sha256:<hex>   any of them by name (a bare 64-hex line is PDQ)
  {...}                  a line of `hashmatch hash --lookup-request` (a lookup request and the
                         path of the file it was made from) or of `hashmatch hash --json` (its
                         frames' PDQ hashes with their qualities, the file's MD5 and SHA-256)
More hashes than one request holds go in several requests, in order. The path never leaves this
machine: each answer is printed with the path of the file its hash came from (or "-" for a hash
given on its own), so that a user sees which file matched.

The API answers a hash that does not match with no distance (a caller would otherwise learn how
far an edit is from escaping, docs/lookup-api.md), so `check` has no nearest distance to show.
"""

from __future__ import annotations

import io
import json
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Iterable, TextIO
from urllib.parse import urlsplit

from hashmatch.matching.lookup import FIELDS, MAX_HASHES_PER_REQUEST, LookupRequest, LookupRequestError, PdqQuery, parse_request
from hashmatch.model import MediaHashes
from hashmatch_tools.contract import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, BadInput, needed, reason_of, stack_option

URL_VARIABLE = "HASHMATCH_LOOKUP_URL"
_REGION_IN_URL = re.compile(r"^[a-z0-9]+\.lambda-url\.(?P<region>[a-z0-9-]+)\.on\.aws$")
_LINE = re.compile(r"^(?:(?P<kind>pdq|md5|sha256):)?(?P<hex>[0-9a-fA-F]+)$")


class LookupFailed(RuntimeError):
    """The API did not answer a request with 200: one line saying why."""


def lookup_request_of(hashes: MediaHashes) -> LookupRequest:
    """What `hashmatch check` sends for hashed media: each distinct frame hash once (with its best quality), the MD5 and SHA-256.

    The frames' own hashes only: the mirrored and rotated variants the matcher adds for uploads
    would multiply what a lookup costs the caller's budget.
    """
    quality: dict[str, int] = {}
    for frame in hashes.frames:
        quality[frame.pdq] = max(quality.get(frame.pdq, 0), frame.quality)
    return LookupRequest(
        tuple(PdqQuery(pdq, value) for pdq, value in quality.items()),
        (hashes.md5,) if hashes.md5 else (),
        (hashes.sha256,) if hashes.sha256 else (),
    )


def _from_json(line: str) -> tuple[LookupRequest, str | None]:
    """A `hash --lookup-request` or `hash --json` line: the request and the path of the file it was made from (None when it has none)."""
    data = json.loads(line)
    path = data.pop("path", None) if isinstance(data, dict) else None
    if path is not None and not isinstance(path, str):
        raise LookupRequestError([f"path: expected a string, got {json.dumps(path)[:40]}"])
    if isinstance(data, dict) and "frames" in data:
        return lookup_request_of(MediaHashes.from_dict(data)), path
    return parse_request(data, limit=sys.maxsize), path


@dataclass(frozen=True)
class HashesRead:
    """A hashes file as `check` sends it: one request (split later) and, per hash in the request's order, the file it came from."""

    request: LookupRequest
    paths: tuple[str | None, ...]  # PDQ hashes first, then MD5s, then SHA-256s, as LookupRequest.split orders them


def read_hashes(lines: Iterable[str], name: str, problems: list[str]) -> HashesRead:
    """Every hash of a hashes file, in order, with the path its line names; each bad line is added to `problems` as "NAME:LINE: reason"."""
    pdq: list[PdqQuery] = []
    md5: list[str] = []
    sha256: list[str] = []
    paths: dict[str, list[str | None]] = {kind: [] for kind in FIELDS}
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("{"):
            try:
                found, path = _from_json(text)
            except LookupRequestError as error:
                problems.append(f"{name}:{number}: {error}")
                continue
            except (ValueError, KeyError, TypeError) as error:
                problems.append(f"{name}:{number}: not a lookup request nor a `hashmatch hash --json` line ({type(error).__name__}: {error})"[:300])
                continue
            pdq.extend(found.pdq)
            md5.extend(found.md5)
            sha256.extend(found.sha256)
            for kind in FIELDS:
                paths[kind].extend([path] * len(getattr(found, kind)))
            continue
        matched = _LINE.match(text)
        kind = matched["kind"] if matched else None
        digits = matched["hex"].lower() if matched else ""
        kind = kind or {64: "pdq", 32: "md5"}.get(len(digits))
        if not matched or kind is None or len(digits) != {"pdq": 64, "md5": 32, "sha256": 64}[kind]:
            problems.append(f"{name}:{number}: expected a PDQ hash (64 hex), an MD5 (32 hex), pdq:/md5:/sha256:<hex> or a JSON line, got {text[:80]!r}")
            continue
        if kind == "pdq":
            pdq.append(PdqQuery(digits))
        else:
            (md5 if kind == "md5" else sha256).append(digits)
        paths[kind].append(None)
    return HashesRead(LookupRequest(tuple(pdq), tuple(md5), tuple(sha256)), tuple(path for kind in FIELDS for path in paths[kind]))


def region_for(url: str, region: str | None = None) -> str | None:
    """The region to sign for: given, else the one in an AWS function URL's host, else the default chain's."""
    if region:
        return region
    found = _REGION_IN_URL.match(urlsplit(url).hostname or "")
    if found:
        return found["region"]
    import boto3

    return boto3.Session().region_name


def post_lookup(url: str, body: dict, credentials, region: str, timeout: float = 30.0) -> tuple[int, dict, dict]:
    """POST one lookup request signed with SigV4 (service lambda); returns the status, the parsed answer and the headers."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    data = json.dumps(body, separators=(",", ":")).encode()
    request = AWSRequest(method="POST", url=url, data=data, headers={"Content-Type": "application/json"})
    if credentials is not None:
        SigV4Auth(credentials, "lambda", region).add_auth(request)
    prepared = request.prepare()
    sent = urllib.request.Request(prepared.url, data=data, headers=dict(prepared.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(sent, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}"), dict(response.headers.items())
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            answer = {"reason": raw.decode("utf-8", "replace")[:200]}
        return error.code, answer if isinstance(answer, dict) else {"reason": str(answer)[:200]}, dict(error.headers.items())


def _why(status: int, answer: dict) -> str:
    reason = answer.get("reason") or answer.get("Message") or answer.get("message") or answer.get("error") or ""
    meaning = {400: "bad request", 403: "forbidden: sign with credentials allowed to call this URL", 429: "throttled"}.get(status, "")
    return f"the lookup API answered {status}" + (f" ({meaning})" if meaning else "") + (f": {reason}" if reason else "")


@dataclass
class Checker:
    url: str
    credentials: object
    region: str
    timeout: float = 30.0

    def check(self, request: LookupRequest) -> list[dict]:
        """Every hash's answer, in the order of the request (PDQ, MD5, SHA-256), each with its signal_type; LookupFailed on a non-200."""
        found: list[dict] = []
        for part in request.split(MAX_HASHES_PER_REQUEST):
            try:
                status, answer, _ = post_lookup(self.url, part.to_dict(), self.credentials, self.region, self.timeout)
            except urllib.error.URLError as error:
                raise LookupFailed(f"cannot reach the lookup API at {self.url}: {error.reason}") from None
            except (OSError, ValueError) as error:  # a timeout, a dropped connection, a 200 that is not JSON
                raise LookupFailed(f"no answer from the lookup API at {self.url}: {reason_of(error)}") from None
            if status != 200:
                raise LookupFailed(_why(status, answer))
            for signal_type in FIELDS:
                answers, asked = answer.get(signal_type, []), getattr(part, signal_type)
                if not isinstance(answers, list) or len(answers) != len(asked) or not all(isinstance(item, dict) for item in answers):
                    raise LookupFailed(f"the answer from {self.url} does not hold one {signal_type} answer per hash asked: is it the stack's LookUpHashesFunctionUrl?")
                found.extend({"signal_type": signal_type, **item} for item in answers)
        return found


def _print(found: dict, path: str | None, as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps({**found, "path": path} if path is not None else found), file=out, flush=True)
        return
    shown = path if path is not None else "-"
    if not found["match"]:
        low = "\tlow quality: not searched" if found.get("low_quality") else ""
        print(f"no\t-\t{found['signal_type']}\t{found['hash']}\t{shown}{low}", file=out, flush=True)
        return
    details = ""
    if "labels" in found:
        details = f"\t{found['distance']}\t{','.join(found['labels'])}\t{','.join(found['sources'])}"
    print(f"MATCH\t{found['action']}\t{found['signal_type']}\t{found['hash']}\t{shown}{details}", file=out, flush=True)


def checked_url(url: str, output: str = "LookUpHashesFunctionUrl") -> str:
    """A function URL as given, once it is an http(s) URL with a host (BadInput otherwise)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput("--url", f"{url!r} is not an http(s) URL (the stack output {output} is one)")
    return url


def command_check(args) -> int:
    url = checked_url(needed(args.url, "check", "--url", URL_VARIABLE))
    problems: list[str] = []
    try:
        if args.hashes == "-":
            # Read as a file is: a byte that is not UTF-8 makes a bad line, not an exception.
            stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace") if hasattr(sys.stdin, "buffer") else sys.stdin
            read = read_hashes(stdin, "<stdin>", problems)
        else:
            with open(args.hashes, encoding="utf-8", errors="replace") as lines:
                read = read_hashes(lines, args.hashes, problems)
    except OSError as error:
        raise BadInput(args.hashes, reason_of(error)) from None
    for problem in problems:
        print(f"hashmatch: error: {problem}", file=sys.stderr)
    if not read.request.size:
        if not problems:
            raise BadInput(args.hashes, "no hashes in it")
        return EXIT_BAD_INPUT
    import boto3

    credentials = boto3.Session().get_credentials()
    if credentials is None:
        raise BadInput("AWS credentials", "the default chain (environment, ~/.aws, a role) found none to sign the lookup request with")
    region = region_for(url, args.region)
    if not region:
        raise BadInput("AWS region", "none to sign for: give --region (or set AWS_REGION)")
    try:
        answers = Checker(url, credentials.get_frozen_credentials(), region, args.timeout).check(read.request)
    except LookupFailed as failed:
        print(f"hashmatch: error: {failed}", file=sys.stderr)
        return EXIT_FAILED
    for found, path in zip(answers, read.paths):
        _print(found, path, args.json, sys.stdout)
    return EXIT_BAD_INPUT if problems else EXIT_OK


def add_command(commands) -> None:
    check = commands.add_parser("check", help="ask a stack's lookup API whether hashes match (the media never leaves this machine)")
    check.add_argument("--hashes", required=True, metavar="FILE", help="hashes, one a line (or the output of `hashmatch hash --lookup-request`); - for stdin")
    stack_option(check, "--url", URL_VARIABLE, "the lookup API")
    check.add_argument("--region", help="the region to sign for (default: the URL's, else the AWS default chain's)")
    check.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default 30)")
    check.add_argument("--json", action="store_true", help="one JSON object per hash: signal_type, hash, match, action (and for the labels role distance, labels, sources, reference_ids), and path (the file the hash came from, when its line names one)")
    check.set_defaults(run=command_check)
