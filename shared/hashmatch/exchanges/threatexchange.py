"""A ThreatExchange privacy group (how GIFCT members share hashes), through python-threatexchange's ThreatExchangeAPI.

Fetching follows pytx's FBThreatExchangeSignalExchangeAPI.fetch_iter: /threat_updates of the
privacy group from the checkpoint's update time, page after page (`paging.next`), each record made
into pytx's FBThreatExchangeIndicatorRecord (its opinions: descriptors' owners, statuses, tags and
reactions); the checkpoint after a page is the latest `last_updated` seen. The loop is this
module's rather than fetch_iter's so that a malformed record is counted and skipped (in fetch_iter
it ends the fetch), the indicator's id is kept, and hashes pytx maps only with tags (MD5 without
`media_type_video`) or not at all (TMK) are kept too.

A record whose opinions are all negative, or that ThreatExchange marks deleted, or that has no
visible descriptor left (pytx's rule), withdraws the hash from this exchange.

Feedback: a reaction on each descriptor of the hash that is not this app's own (HELPFUL to
confirm, with SAW_THIS_TOO when it matched uploads; DISAGREE_WITH_TAGS to dispute), through
pytx's react_to_threat_descriptor.
"""

from __future__ import annotations

from typing import Iterator

import requests
from threatexchange.exchanges.clients.fb_threatexchange.api import ThreatExchangeAPI
from threatexchange.exchanges.clients.fb_threatexchange.threat_updates import ThreatUpdateJSON
from threatexchange.exchanges.fetch_state import AggregateSignalOpinionCategory
from threatexchange.exchanges.impl.fb_threatexchange_api import FBThreatExchangeIndicatorRecord, FBThreatExchangeOpinion

from hashmatch.exchanges.http_faults import exchange_error
from hashmatch.exchanges.model import (
    ExchangeConfig,
    ExchangeUnavailable,
    Feedback,
    FeedbackNotSupported,
    Fetched,
    Ignored,
    Malformed,
    Page,
    Record,
    Withdrawn,
    checkpoint_data,
    checkpoint_text,
)
from hashmatch.hash_set.formats.tmk import TMK_SIGNAL, TmkEntry
from hashmatch.hash_set.lists import HashListEntry
from hashmatch.vocabulary import ListedSignal

PAGE_SIZE = 100
# ThreatExchange's indicator types and the signal types hashmatch reads them as.
INDICATOR_TYPES = {
    "HASH_PDQ": ListedSignal.PDQ,
    "HASH_VIDEO_MD5": ListedSignal.MD5,
    "HASH_MD5": ListedSignal.MD5,
    "HASH_VIDEO_SHA256": ListedSignal.SHA256,
    "HASH_SHA256": ListedSignal.SHA256,
    "HASH_TMK": TMK_SIGNAL,
}
# What an aggregate opinion adds to an entry's labels (HMA 1.0's rollup tags).
OPINION_LABELS = {AggregateSignalOpinionCategory.POSITIVE_CLASS: "true_positive", AggregateSignalOpinionCategory.DISPUTED: "disputed"}
REQUEST_SECONDS = 60


class _Client(ThreatExchangeAPI):
    """pytx's client, its page requests with a timeout (its get_json_from_url sends them without one)."""

    def get_json_from_url(self, url, params=None, *, json_obj_hook=None):
        response = requests.get(url, params=params or {}, timeout=REQUEST_SECONDS)
        response.raise_for_status()
        return response.json(object_hook=json_obj_hook)


class ThreatExchangeExchange:
    """One ThreatExchange privacy group (credentials: the app's access token, `<app id>|<secret>`)."""

    def __init__(self, config: ExchangeConfig, credentials: dict):
        token = credentials.get("api_token") or ""
        if "|" not in token or not token.partition("|")[0].isdigit():
            raise ValueError(f"{config.name}: a ThreatExchange access token is '<app id>|<secret>'")
        self.config = config
        self.client = _Client(token, endpoint_override=config.endpoint.rstrip("/") if config.endpoint else None)

    def pages(self, checkpoint: str | None) -> Iterator[Page]:
        start = checkpoint_data(checkpoint).get("update_time")
        cursor = self.client.get_threat_updates(
            int(self.config.collaboration), start_time=start, page_size=PAGE_SIZE, fields=FBThreatExchangeIndicatorRecord.te_threat_updates_fields(), decode_fn=ThreatUpdateJSON
        )
        highest = start or 0
        while not cursor.done:
            try:
                batch = cursor.next()
            except requests.exceptions.RequestException as error:
                raise exchange_error(error, f"{self.config.name} (ThreatExchange)") from None
            except ValueError as error:  # a body that is not JSON
                raise ExchangeUnavailable(f"{self.config.name} (ThreatExchange): the answer is not JSON ({error})") from None
            records: list[Record] = []
            for update in batch:
                record, time = self._record(update)
                records.append(record)
                highest = max(highest, time or 0)
            yield Page(records, checkpoint_text({"update_time": highest}) if highest else checkpoint)

    def _record(self, update: ThreatUpdateJSON) -> tuple[Record, int | None]:
        try:
            time, kind, indicator = update.time, INDICATOR_TYPES.get(update.threat_type), update.indicator.strip()
            if kind is None:
                return Ignored(f"indicator type {update.threat_type}: not one hashmatch matches"), time
            found = FBThreatExchangeIndicatorRecord.from_threatexchange_json(self.client.app_id, update)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            return Malformed(f"a threat update without what pytx reads ({type(error).__name__}: {error})", repr(update.raw_json)), None
        if found is None:
            return Withdrawn(str(kind), indicator.lower() if kind != TMK_SIGNAL else indicator), time
        opinion = found.get_as_aggregate_opinion()
        if opinion.category == AggregateSignalOpinionCategory.NEGATIVE_CLASS:
            return Withdrawn(str(kind), indicator.lower() if kind != TMK_SIGNAL else indicator), time
        labels = tuple(sorted(opinion.tags)) + tuple(label for category, label in OPINION_LABELS.items() if opinion.category == category)
        provenance = {
            "exchange": str(self.config.kind),
            "collaboration": self.config.collaboration,
            "id": str(update.raw_json.get("id", "")) or None,
            "opinion": opinion.category.name,
            "descriptors": [_descriptor(o) for o in found.opinions if isinstance(o, FBThreatExchangeOpinion)],
        }
        try:
            if kind == TMK_SIGNAL:
                entry = TmkEntry(hash=indicator, labels=labels, source=self.config.name, source_id=provenance["id"])
            else:
                entry = HashListEntry(signal_type=kind, hash=indicator, labels=labels, source=self.config.name, source_id=provenance["id"])
        except ValueError as error:
            return Malformed(str(error), repr(update.raw_json)), time
        return Fetched(entry, provenance), time

    def send_feedback(self, provenance: dict, feedback: Feedback, matches: int) -> str:
        theirs = [d["id"] for d in provenance.get("descriptors", ()) if not d.get("mine") and d.get("id", -1) > 0]
        if not theirs:
            raise FeedbackNotSupported("no descriptor of another member to react to")
        reactions = (["HELPFUL"] + (["SAW_THIS_TOO"] if matches else [])) if feedback == Feedback.CONFIRM else ["DISAGREE_WITH_TAGS"]
        for descriptor in theirs:
            for reaction in reactions:
                try:
                    _, error, answer = self.client.react_to_threat_descriptor(descriptor, reaction)
                except requests.exceptions.RequestException as failure:
                    raise exchange_error(failure, f"{self.config.name} (ThreatExchange feedback)") from None
                if error is not None or not isinstance(answer, dict) or not answer.get("success"):
                    raise ExchangeUnavailable(f"{self.config.name}: ThreatExchange refused the reaction {reaction} on descriptor {descriptor}: {str(answer)[:200]}")
        return f"{', '.join(reactions)} on descriptor{'s' if len(theirs) > 1 else ''} {', '.join(map(str, theirs))}"


def _descriptor(opinion: FBThreatExchangeOpinion) -> dict:
    return {"id": int(opinion.descriptor_id or -1), "owner": int(opinion.owner_app_id), "mine": bool(opinion.is_mine), "category": opinion.category.name}
