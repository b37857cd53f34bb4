"""A hash list a partner publishes at a URL (or keeps at a path), in any format hashmatch reads (hash_set/lists.py).

The list is the whole of what the partner holds: each fetch reads it all (one page, `complete`), so
what was listed before and is not now is withdrawn. A URL is asked conditionally (If-None-Match,
If-Modified-Since from the last fetch): an unchanged list costs one request and changes nothing.

python-threatexchange's own file exchange (LocalFileSignalExchangeAPI) is not used for this: it
reads only its `<type> <signal>` lines (hashmatch reads that format and the others), keeps invalid
signals as they are, and never removes a signal a list no longer holds (docs/exchanges.md).
"""

from __future__ import annotations

import io
import posixpath
import urllib.parse
from dataclasses import replace
from typing import Iterable, Iterator

import requests

from hashmatch.exchanges.http_faults import exchange_error
from hashmatch.exchanges.model import ExchangeConfig, ExchangeUnavailable, Feedback, FeedbackNotSupported, Fetched, Ignored, Malformed, Page, Record, checkpoint_data, checkpoint_text
from hashmatch.hash_set.lists import BadLine, HashListEntry, SkippedLine, read_hash_list

REQUEST_SECONDS = 60


class ListExchange:
    """A list at an http(s) URL or a file path (credentials, optional: HTTP headers to send, such as Authorization)."""

    def __init__(self, config: ExchangeConfig, credentials: dict | None = None):
        self.config = config
        self.location = config.collaboration
        self.headers = dict((credentials or {}).get("headers", {}))
        self.is_url = urllib.parse.urlparse(self.location).scheme in ("http", "https")

    def pages(self, checkpoint: str | None) -> Iterator[Page]:
        if not self.is_url:
            try:
                with open(self.location, encoding="utf-8", errors="replace", newline="") as lines:
                    yield Page(list(self._records(lines)), checkpoint, complete=True)
            except OSError as error:
                raise ExchangeUnavailable(f"{self.config.name}: cannot read {self.location}: {error.strerror or error}") from None
            return
        earlier = checkpoint_data(checkpoint)
        headers = {**self.headers}
        if earlier.get("etag"):
            headers["If-None-Match"] = earlier["etag"]
        if earlier.get("last_modified"):
            headers["If-Modified-Since"] = earlier["last_modified"]
        try:
            response = requests.get(self.location, headers=headers, timeout=REQUEST_SECONDS)
            if response.status_code == 304:
                yield Page([], checkpoint, unchanged=True)
                return
            response.raise_for_status()
        except requests.exceptions.RequestException as error:
            raise exchange_error(error, f"{self.config.name} ({self.location})") from None
        text = io.StringIO(response.content.decode("utf-8", errors="replace"), newline="")
        now = {key: value for key, value in (("etag", response.headers.get("ETag")), ("last_modified", response.headers.get("Last-Modified"))) if value}
        yield Page(list(self._records(text)), checkpoint_text(now) if now else None, complete=True)

    def _records(self, lines: Iterable[str]) -> Iterator[Record]:
        name = posixpath.basename(urllib.parse.urlparse(self.location).path) or self.config.name
        provenance = {"exchange": str(self.config.kind), "collaboration": self.location}
        try:
            for item in read_hash_list(lines, self.config.name, name=name):
                if isinstance(item, BadLine):
                    yield Malformed(f"line {item.line_number}: {item.reason}", item.text)
                elif isinstance(item, SkippedLine):
                    yield Ignored(f"line {item.line_number}: {item.reason}")
                elif isinstance(item, HashListEntry) and item.listed_video is not None:
                    # A vPDQ file is one listed video, which the hash set holds as a reference of its own
                    # (hash_set/table.py put_listed_video) written once the whole file is read; the sync writes
                    # entries page by page and does not build one yet, and frames stored without it match nothing.
                    yield Ignored(f"a frame of the vPDQ video {item.listed_video}: listed videos are imported (hashmatch admin hashset import), not synced")
                else:
                    # A list names its own sources only in JSON lines and the dataset CSV: here every entry is the exchange's.
                    yield Fetched(item if item.source == self.config.name else replace(item, source=self.config.name), {**provenance, "id": item.source_id})
        except ValueError as error:  # the format cannot be told
            raise ExchangeUnavailable(f"{self.config.name}: {error}") from None

    def send_feedback(self, provenance: dict, feedback: Feedback, matches: int) -> str:
        raise FeedbackNotSupported("a published list takes no feedback")

