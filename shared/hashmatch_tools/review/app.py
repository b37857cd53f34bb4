"""The review desk's pages: the queue, an item side by side, a decision. Server-rendered (Flask, Jinja templates).

Safe by construction: every response is `Cache-Control: no-store` (pictures above all) with a content
security policy that allows nothing but this origin's own script and styles; requests whose Host is
not this desk's loopback address are refused (DNS rebinding); every form carries a CSRF token tied
to the session; pictures are streamed from S3 to the browser, never written to disk; credentials
never reach a page (the reviewer's identity, an ARN, is shown, their keys are not).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from datetime import datetime, timezone

from botocore.exceptions import ClientError
from flask import Flask, Response, abort, flash, redirect, render_template, request, session, stream_with_context, url_for

from hashmatch.audit import ExemptionScope, is_review_event
from hashmatch.aws.detail_pictures import open_detail_picture
from hashmatch.usecases.review import Decision, DecisionOutcome, DecisionRequest, TrailState, applicable, decide, trail_version
from hashmatch.usecases.review_queue import ItemKind, ItemStatus, QueueFilter, is_listed_entry, queue_view
from hashmatch_tools.review.desk import CareSettings, Desk
from hashmatch_tools.review.pictures import outline_shares, side_by_side

STREAM_CHUNK_BYTES = 64 * 1024
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}
# Outcomes the reviewer is told as good news (the rest as a warning).
GOOD = {DecisionOutcome.DECIDED, DecisionOutcome.ALREADY_DECIDED}
KEYS = {Decision.CONFIRM: "c", Decision.RELEASE: "r", Decision.FALSE_POSITIVE: "f", Decision.ESCALATE: "e"}
LABELS = {Decision.CONFIRM: "Confirm", Decision.RELEASE: "Release", Decision.FALSE_POSITIVE: "False positive", Decision.ESCALATE: "Escalate"}


def token_of(upload_id: str) -> str:
    """An upload id (s3://bucket/key?versionId=...) or a reference id as a URL path segment."""
    return base64.urlsafe_b64encode(upload_id.encode()).decode().rstrip("=")


def upload_id_of(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        abort(404)


# What the history shows of an audit record, in this order, under these names (the matched record's decided_by is the
# matching stage, a stored name).
HISTORY_FIELDS = {
    "decision": "decision",
    "reviewer": "reviewer",
    "outcome": "outcome",
    "action": "action",
    "decided_by": "stage",
    "references": "references",
    "reason": "reason",
    "detail": "detail",
    "hold_detail": "detail",
    "requested_by": "requested by",
    "restored_as": "restored as",
    "scope": "scope",
    "note": "note",
    "retain_until": "kept until",
}


def record_details(record: dict) -> list[tuple[str, str]]:
    shown = []
    for field, name in HISTORY_FIELDS.items():
        value = record.get(field)
        if value not in (None, "", []):
            shown.append((name, ", ".join(map(str, value)) if isinstance(value, list) else str(value)))
    return shown


def _now() -> datetime:
    return datetime.now(timezone.utc)


def time_left(seconds: float) -> str:
    minutes = round(abs(seconds) / 60)
    return f"{minutes} min left" if seconds >= 0 else f"overdue by {minutes} min"


def create_app(desk: Desk, care: CareSettings = CareSettings(), allowed_hosts: set[str] | None = None) -> Flask:
    """The desk's web app for one reviewer (`desk.reviewer`). `allowed_hosts`: the Host headers it answers (its loopback address)."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_bytes(32),  # a new one each start: sessions and CSRF tokens never outlive the desk
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        ALLOWED_HOSTS=allowed_hosts,
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.jinja_env.globals.update(token_of=token_of, time_left=time_left, record_details=record_details, KEYS=KEYS, LABELS=LABELS, Decision=Decision, ItemKind=ItemKind, is_review_event=is_review_event)

    @app.before_request
    def guard():
        allowed = app.config["ALLOWED_HOSTS"]
        if allowed is not None and request.host not in allowed:
            abort(400, "this desk answers on its loopback address only")
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(32)
            _start_counting()
        if request.method == "POST" and not hmac.compare_digest(request.form.get("csrf", "").encode(), session["csrf"].encode()):
            abort(400, "missing or wrong CSRF token: reload the page")

    @app.after_request
    def protect(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.context_processor
    def care_for_the_reviewer():
        seen = session.get("seen", 0)
        minutes = (time.time() - session.get("started", time.time())) / 60
        return {
            "reviewer": desk.reviewer,
            "csrf": session.get("csrf", ""),
            "seen": seen,
            "minutes": round(minutes),
            "take_a_break": seen >= care.break_after_items or minutes >= care.break_after_minutes,
        }

    @app.get("/")
    def queue():
        read = desk.refresh()
        chosen = QueueFilter(**{name: request.args.get(name, "") for name in ("reason", "source", "label", "kind", "status")})
        now = _now()
        view = queue_view(desk.items.all(), chosen, now)
        return render_template("queue.html", view=view, chosen=chosen, read=read, now=now, statuses=[str(s) for s in ItemStatus], kinds=[str(k) for k in ItemKind])

    @app.get("/item/<token>")
    def item(token: str):
        upload_id = upload_id_of(token)
        found = desk.items.get(upload_id)
        if found is None:
            abort(404)
        trail = sorted(desk.audit.events(upload_id), key=lambda record: record.get("recorded_at", ""))
        stored = desk.detail_pictures(found.sha256)
        upload_times = [picture.timestamp for picture in stored.pictures] if stored else []
        references = []
        if found.match is not None:
            for entry in found.match.matches:
                listed = is_listed_entry(entry.reference_id)
                reference_times = [] if listed else desk.reference_pictures.timestamps(entry.reference_id)
                pairs = side_by_side(upload_times, reference_times, entry.query_segments, entry.reference_segments)
                outlines = _outlines(desk, stored, entry.reference_id, pairs) if entry.signal_type == "orb" and stored and reference_times else {}
                listing = desk.hash_set.entries.get(*entry.reference_id.split(":", 1)) if listed else None
                references.append({"entry": entry, "listed": listed, "listing": listing, "pairs": pairs, "outlines": outlines})
        _count_seen(upload_id)
        queue_order = [i.upload_id for i in sorted((i for i in desk.items.all() if i.is_open), key=lambda i: i.arrived_at)]
        position = queue_order.index(upload_id) if upload_id in queue_order else None
        neighbours = {
            "previous": token_of(queue_order[position - 1]) if position else None,
            "next": token_of(queue_order[position + 1]) if position is not None and position + 1 < len(queue_order) else None,
        }
        state = TrailState.of(trail)
        return render_template(
            "item.html",
            item=found,
            token=token,
            trail=trail,
            version=trail_version(trail),
            refused=applicable(found, trail),
            references=references,
            upload_pictures=len(upload_times),
            state=state,
            neighbours=neighbours,
            now=_now(),
            scopes=[scope.value for scope in ExemptionScope],
        )

    @app.post("/item/<token>/decide")
    def decide_item(token: str):
        upload_id = upload_id_of(token)
        try:
            decision = Decision(request.form.get("decision", ""))
            version = int(request.form.get("version", ""))
            scope = ExemptionScope(request.form.get("scope") or ExemptionScope.UPLOAD.value)
        except ValueError:
            abort(400, "a decision, the version seen and a scope")
        note = request.form.get("note", "").strip()[:2000]
        try:
            answer = decide(DecisionRequest(upload_id, decision, version, desk.reviewer, note, scope), desk.review)
        except (ClientError, OSError) as error:
            # Recorded, not finished (the restore URL or AWS could not be reached): the same decision sent again finishes it.
            flash(f"{LABELS[decision]}: recorded but not carried out ({type(error).__name__}: {error}); send the same decision again to finish it", "warning")
            return redirect(url_for("item", token=token))
        flash(f"{LABELS[decision]}: {answer.outcome.value.replace('-', ' ')}. {answer.detail}", "good" if answer.outcome in GOOD else "warning")
        if answer.outcome in GOOD and decision != Decision.ESCALATE:
            return redirect(url_for("queue"))
        return redirect(url_for("item", token=token))

    @app.post("/break")
    def had_a_break():
        _start_counting()
        back = request.form.get("back", "")
        # Back to a page of this desk only (the queue or an item), never to a URL a form could name.
        return redirect(back if re.fullmatch(r"/(item/[A-Za-z0-9_-]+)?", back) else url_for("queue"))

    @app.get("/picture/upload/<token>/<int:number>")
    def upload_picture(token: str, number: int):
        found = desk.items.get(upload_id_of(token))
        stored = desk.detail_pictures(found.sha256) if found else None
        if stored is None or not 0 <= number < len(stored.pictures):
            abort(404)
        return _stream(open_detail_picture(desk.s3, stored, number))

    @app.get("/picture/reference/<reference>/<int:milliseconds>")
    def reference_picture(reference: str, milliseconds: int):
        try:
            body = desk.reference_pictures.open(upload_id_of(reference), milliseconds / 1000)
        except ClientError:
            abort(404)
        return _stream(body)

    return app


# Items the session remembers as seen (short digests, so the session cookie stays far below browsers' 4 KB).
SEEN_REMEMBERED = 100


def _start_counting() -> None:
    session["started"] = time.time()
    session["seen"] = 0
    session["seen_items"] = []


def _count_seen(upload_id: str) -> None:
    """One more item looked at this session, unless it is one of the last SEEN_REMEMBERED."""
    digest = hashlib.sha256(upload_id.encode()).hexdigest()[:10]
    remembered = session.get("seen_items", [])
    if digest not in remembered:
        session["seen_items"] = [*remembered, digest][-SEEN_REMEMBERED:]
        session["seen"] = session.get("seen", 0) + 1


def _stream(body) -> Response:
    """A picture passed on as S3 sends it, a piece at a time: never held whole, never written to disk."""
    return Response(stream_with_context(body.iter_chunks(STREAM_CHUNK_BYTES)), mimetype="image/jpeg")


def _outlines(desk: Desk, stored, reference_id: str, pairs) -> dict[int, str]:
    """For a local-feature match: per pair, the reference's outline in the upload picture as SVG polygon points (0-100)."""
    found = {}
    for row, pair in enumerate(pairs):
        if pair.upload_number is None or pair.reference_timestamp is None:
            continue
        upload = open_detail_picture(desk.s3, stored, pair.upload_number).read()
        reference = desk.reference_pictures.open(reference_id, pair.reference_timestamp).read()
        corners = outline_shares(upload, reference)
        if corners:
            found[row] = " ".join(f"{100 * x:.2f},{100 * y:.2f}" for x, y in corners)
    return found
