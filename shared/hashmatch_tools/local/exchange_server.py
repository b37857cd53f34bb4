"""A local exchange server on 127.0.0.1: the parts of each exchange's API that hashmatch's clients call, for the tests and the demo.

- Tech Against Terrorism's hash list (under /tat/): `POST token-auth/tcap/` (form username and
  password; a token) and `GET api/hash-list/v2/all` (Bearer token; records after the `after`
  checkpoint "<updated_on>,<id>" in ascending order, `page=N` pages of `page_size`, each page with
  count, next, previous, checkpoint and results). python-threatexchange's client sends the page
  as a query key of its own making (the literal `None`, then the whole `next` URL): the page number
  is found wherever `page=N` stands in the query, as a lenient server would.
- ThreatExchange's Graph API (under /te/v26.0/): `GET <privacy group>/threat_updates/` (access_token;
  updates with last_updated >= start_time, oldest first, `limit` a page (at most te_page_size), `paging.next` an absolute
  URL carrying every parameter), and `POST <descriptor id>/` with `reactions=` (recorded).
- Hash lists (under /lists/<name>): the body with an ETag; If-None-Match of that ETag gives 304.

The records are what a test or the demo puts in (TatRecord, ThreatUpdate, or raw dicts to make
malformed ones), shaped after each API's public documentation and what the clients read. Faults
are queued per path prefix (`fail_next`): the next N requests there get that status and headers
(a 429 with Retry-After, a 500). Every request is recorded (`requests`).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import urllib.parse
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TE_VERSION = "v26.0"
TE_TOKEN = "1234567890|localexchangetokenabcdefghij"  # <app id>|<secret>, the form pytx checks


@dataclass
class TatRecord:
    """One record of Tech Against Terrorism's hash list (its API's fields)."""

    hash_digest: str
    id: int
    updated_on: float
    algorithm: str = "PDQ"
    ideology: str = "far-right"
    file_type: str = "png"
    deleted: bool = False
    created_on: str = "2026-01-01 00:00:00,000"


@dataclass
class ThreatUpdate:
    """One /threat_updates record of ThreatExchange: an indicator and its descriptors' opinions."""

    id: str
    indicator: str
    type: str
    last_updated: int
    should_delete: bool = False
    descriptors: list[dict] = field(default_factory=list)  # {"id", "owner": {"id"}, "status", "tags", "reactions"}

    def to_json(self) -> dict:
        data = asdict(self)
        data["descriptors"] = {"data": self.descriptors}
        return data


def descriptor(descriptor_id: int, owner: int, status: str = "MALICIOUS", tags: tuple[str, ...] = ()) -> dict:
    return {"id": str(descriptor_id), "owner": {"id": str(owner)}, "status": status, "tags": list(tags), "reactions": []}


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"{}"


class LocalExchangeServer:
    """The server (start/stop, or a context manager) and what it serves."""

    def __init__(self, *, tat_page_size: int = 2, te_page_size: int = 100):
        self.tat_users = {"partner": "secret"}
        self.tat_records: list[TatRecord | dict] = []
        self.tat_page_size = tat_page_size
        self.te_updates: dict[str, list[ThreatUpdate | dict]] = {}  # privacy group id -> updates
        self.te_page_size = te_page_size
        self.te_reactions: list[tuple[str, str]] = []  # (descriptor id, reaction)
        self.lists: dict[str, bytes] = {}
        self.requests: list[dict] = []
        self._faults: list[tuple[str, str, Answer]] = []
        self._tokens: set[str] = set()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> "LocalExchangeServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer(server.answer("GET", self.path, dict(self.headers), b""))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._answer(server.answer("POST", self.path, dict(self.headers), self.rfile.read(length)))

            def _answer(self, answer: Answer) -> None:
                self.send_response(answer.status)
                for name, value in {"Content-Type": "application/json", **answer.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args) -> None:  # quiet: the requests are recorded instead
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, name="local-exchange-server", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "LocalExchangeServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def tat_url(self) -> str:
        return f"{self.url}/tat/"

    @property
    def te_url(self) -> str:
        return f"{self.url}/te/{TE_VERSION}"

    def list_url(self, name: str) -> str:
        return f"{self.url}/lists/{name}"

    # ------------------------------------------------------------ faults

    def fail_next(self, path_prefix: str, status: int, *, count: int = 1, headers: dict[str, str] | None = None, body: Any = None, query: str = "") -> None:
        """The next `count` requests whose path starts with `path_prefix` (and whose query holds `query`) get this answer (a 429 with Retry-After, a 500)."""
        text = json.dumps(body if body is not None else {"error": f"HTTP {status}"}).encode()
        with self._lock:
            self._faults.extend([(path_prefix, query, Answer(status, dict(headers or {}), text))] * count)

    def clear_faults(self) -> None:
        """Answer every request normally again (faults set with fail_next and not yet used are dropped)."""
        with self._lock:
            self._faults.clear()

    def requested(self, prefix: str, method: str = "GET") -> list[dict]:
        return [request for request in self.requests if request["method"] == method and request["path"].startswith(prefix)]

    # ------------------------------------------------------------ answering

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        parsed = urllib.parse.urlsplit(target)
        with self._lock:
            self.requests.append({"method": method, "path": parsed.path, "query": parsed.query, "authorization": headers.get("Authorization", "")})
            fault = next((position for position, (prefix, query, _) in enumerate(self._faults) if parsed.path.startswith(prefix) and query in urllib.parse.unquote(parsed.query)), None)
            if fault is not None:
                return self._faults.pop(fault)[2]
        try:
            if parsed.path.startswith("/tat/"):
                return self._tat(method, parsed, headers, body)
            if parsed.path.startswith(f"/te/{TE_VERSION}/"):
                return self._te(method, parsed, body)
            if parsed.path.startswith("/lists/") and method == "GET":
                return self._list(parsed.path[len("/lists/") :], headers)
        except (ValueError, KeyError) as error:
            return _json(400, {"error": str(error)})
        return _json(404, {"error": f"no {method} {parsed.path} here"})

    def _tat(self, method: str, parsed, headers: dict[str, str], body: bytes) -> Answer:
        path = parsed.path[len("/tat/") :]
        if method == "POST" and path == "token-auth/tcap/":
            form = dict(urllib.parse.parse_qsl(body.decode()))
            if self.tat_users.get(form.get("username", "")) != form.get("password"):
                return _json(400, {"non_field_errors": ["Unable to log in with provided credentials."]})
            token = f"tat-token-{len(self._tokens) + 1}"
            self._tokens.add(token)
            return _json(200, {"token": token, "user": {"username": form["username"]}})
        if method == "GET" and path == "api/hash-list/v2/all":
            if headers.get("Authorization", "").removeprefix("Bearer ") not in self._tokens:
                return _json(401, {"detail": "Authentication credentials were not provided."})
            query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
            after = (query.get("after") or [""])[-1]
            page = int(m.group(1)) if (m := re.search(r"page(?:=|%3D)(\d+)", parsed.query)) else 1
            return _json(200, self._tat_page(after, page))
        return _json(404, {"detail": "Not found."})

    def _tat_page(self, after: str, page: int) -> dict:
        def position(record) -> tuple[float, int]:
            data = record if isinstance(record, dict) else asdict(record)
            return (float(data.get("updated_on", 0)), int(data.get("id", 0)))

        ordered = sorted(self.tat_records, key=position)
        if after:
            updated_on, _, record_id = after.partition(",")
            ordered = [record for record in ordered if position(record) > (float(updated_on), int(record_id))]
        start = (page - 1) * self.tat_page_size
        shown = ordered[start : start + self.tat_page_size]
        more = start + self.tat_page_size < len(ordered)
        last = position(shown[-1]) if shown else None
        return {
            "count": len(ordered),
            "next": f"{self.tat_url}api/hash-list/v2/all?page={page + 1}" if more else None,
            "previous": f"{self.tat_url}api/hash-list/v2/all?page={page - 1}" if page > 1 else None,
            "checkpoint": f"{last[0]},{last[1]}" if last else after,
            "results": [record if isinstance(record, dict) else asdict(record) for record in shown],
        }

    def _te(self, method: str, parsed, body: bytes) -> Answer:
        path = parsed.path[len(f"/te/{TE_VERSION}/") :].strip("/")
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        if query.get("access_token") != TE_TOKEN:
            return _json(400, {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}})
        if method == "GET" and path.endswith("/threat_updates"):
            group = path.split("/")[0]
            start = int(query["start_time"]) if query.get("start_time") else 0
            limit = min(int(query.get("limit") or self.te_page_size), self.te_page_size)  # a page holds at most what the server gives
            cursor = int(query.get("cursor") or 0)

            def updated(update) -> int:
                return int((update if isinstance(update, dict) else asdict(update)).get("last_updated", 0))

            ordered = sorted((u for u in self.te_updates.get(group, []) if updated(u) >= start), key=updated)
            shown = ordered[cursor : cursor + limit]
            answer: dict[str, Any] = {"data": [u if isinstance(u, dict) else u.to_json() for u in shown]}
            if cursor + limit < len(ordered):
                following = {**query, "cursor": str(cursor + limit), "limit": str(limit)}
                answer["paging"] = {"next": f"{self.te_url}/{group}/threat_updates/?{urllib.parse.urlencode(following)}"}
            return _json(200, answer)
        if method == "POST" and path.isdigit():
            form = dict(urllib.parse.parse_qsl(body.decode())) or query
            with self._lock:
                self.te_reactions.append((path, form.get("reactions", query.get("reactions", ""))))
            return _json(200, {"success": True})
        return _json(404, {"error": {"message": f"Unknown path components: /{path}", "code": 2500}})

    def _list(self, name: str, headers: dict[str, str]) -> Answer:
        if name not in self.lists:
            return Answer(404, {"Content-Type": "text/plain"}, b"not found")
        body = self.lists[name]
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        if headers.get("If-None-Match") == etag:
            return Answer(304, {"ETag": etag}, b"")
        return Answer(200, {"Content-Type": "text/plain; charset=utf-8", "ETag": etag}, body)


def _json(status: int, data: Any) -> Answer:
    return Answer(status, {}, json.dumps(data).encode())
