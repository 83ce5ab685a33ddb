"""The values at the centre of the studio: conversations, turns and their parts.

A model turn's parts are the wire parts as received; only the image bytes move to the image
table (by content hash), and every other key is kept so the turn can be replayed verbatim.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

Role = Literal["user", "model"]


class TurnStatus(StrEnum):
    """A user turn's life: queued -> running -> ok | failed | cancelled | interrupted. Only the
    holder of a turn changes it, by a conditional update (core/turns/lifecycle.py)."""

    QUEUED = "queued"
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # Its lease lapsed: the process working on it died before the model answered.
    INTERRUPTED = "interrupted"
    # Retried or regenerated: still shown, no longer replayed.
    REPLACED = "replaced"

    @property
    def in_flight(self) -> bool:
        return self in (TurnStatus.QUEUED, TurnStatus.RUNNING)

    @property
    def retryable(self) -> bool:
        return self in (TurnStatus.FAILED, TurnStatus.INTERRUPTED, TurnStatus.CANCELLED)


@dataclass(frozen=True)
class GenerationSettings:
    aspect_ratio: str = "1:1"
    image_size: str | None = "1K"
    image_only: bool = False
    grounding: bool = False
    thinking_level: str | None = None
    include_thoughts: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> GenerationSettings:
        known = {k: v for k, v in (raw or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class Part:
    kind: Literal["text", "image", "other"]
    text: str | None = None
    image_hash: str | None = None
    mime_type: str | None = None
    # None means the key was absent on the wire; kept apart from False so replay is exact.
    thought: bool | None = None
    signature: str | None = None
    # Any other wire keys of the part, echoed back untouched.
    extra: dict[str, Any] | None = None
    # Received as `inline_data` / `thought_signature`: replayed in the same spelling.
    snake: bool = False
    # The part exactly as received, when the fields above cannot give it back (keys in another
    # order or spelling, extra keys in between, an encoding of its own): {"part": ..., "inline":
    # the key whose base64 was left out, to be put back from the image table, or None}. The
    # fields above then only say what it shows. None on display copies.
    wire: dict[str, Any] | None = None

    @property
    def is_thought(self) -> bool:
        return bool(self.thought)


@dataclass(frozen=True, kw_only=True)
class Turn:
    id: int
    conversation_id: str
    role: Role
    position: int
    status: TurnStatus
    parts: list[Part] = field(default_factory=list)
    reply_to: int | None = None
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    error_kind: str | None = None
    error_message: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    model_version: str | None = None
    response_id: str | None = None
    grounding: dict[str, Any] | None = None
    created_at: dt.datetime | None = None
    # The process holding a queued or running turn, and until when (renewed by its heartbeat).
    lease_owner: str | None = None
    lease_until: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    # An answer's cost in micro-dollars from its usageMetadata; None when unknown.
    cost_micro: int | None = None
    # A request: the answer (model turn id) it edits; None when it starts from nothing.
    parent_id: int | None = None
    # Boxes and brush strokes a person drew on the image it edits, with what to change there
    # (0..1 coordinates).
    marks: list[dict[str, Any]] | None = None
    # Who made it (a person's key): kept by a copy, so a copied turn stays its maker's.
    author: str | None = None
    # False on display copies of turns scrolled out of view: only an outline (id, role, position,
    # status, pairing) was loaded; parts, settings and usage were not.
    parts_loaded: bool = True

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.parts if p.kind == "text" and p.text and not p.is_thought)

    @property
    def images(self) -> list[Part]:
        return [p for p in self.parts if p.kind == "image" and not p.is_thought]

    @property
    def thoughts(self) -> list[Part]:
        return [p for p in self.parts if p.is_thought]

    @property
    def result_image(self) -> Part | None:
        """The last non-thought image: a thought image is a draft, never the result."""
        final = [p for p in self.parts if p.kind == "image" and not p.is_thought]
        return final[-1] if final else None

    def lapsed(self, now: dt.datetime) -> bool:
        """In flight, but its holder stopped renewing the lease: the process died."""
        return self.status.in_flight and self.lease_until is not None and self.lease_until < now


@dataclass(frozen=True)
class Exchange:
    """A user turn and the model turn that answered it (if any yet)."""

    request: Turn
    reply: Turn | None = None

    @property
    def replayable(self) -> bool:
        return self.request.status == TurnStatus.OK and self.reply is not None and self.reply.status == TurnStatus.OK


@dataclass(frozen=True, kw_only=True)
class Seen:
    """What a tab showed when its person acted: the newest turn and the current version (the
    tip). A message is sent only against both; either moved means the tab is behind."""

    newest: int | None
    tip: int | None


@dataclass(frozen=True, kw_only=True)
class Conversation:
    id: str
    title: str
    model: str
    settings: GenerationSettings
    created_at: dt.datetime
    updated_at: dt.datetime
    owner: str | None = None
    turns: list[Turn] = field(default_factory=list)
    # "private" (its owner only) or "team" (every signed-in person may read and copy it).
    visibility: str = "private"
    deleted_at: dt.datetime | None = None
    share_token: str | None = None
    # The current version: the answer the next message edits (None: nothing answered yet).
    tip_id: int | None = None

    @property
    def version(self) -> int | None:
        """The newest turn's id: what a tab saw, and what its next message is sent against."""
        return max((t.id for t in self.turns), default=None)

    @property
    def seen(self) -> Seen:
        """What this copy shows: a message from a tab is sent against exactly this."""
        return Seen(newest=self.version, tip=self.tip_id)

    @property
    def in_flight(self) -> list[Turn]:
        return [t for t in self.turns if t.role == "user" and t.status.in_flight]

    @property
    def exchanges(self) -> list[Exchange]:
        return pair_exchanges(self.turns)

    @property
    def path(self) -> list[Exchange]:
        """The current branch: the answered exchanges from the start to the tip."""
        return path_to(self.exchanges, self.tip_id)

    @property
    def shown(self) -> list[Exchange]:
        """What the chat shows: the current branch, with the turns on it that did not go through
        (failed, cancelled, being made), in the order they were sent."""
        return shown_on(self.exchanges, self.tip_id)

    @property
    def latest_image(self) -> Part | None:
        """The current version's image (the tip's), else the newest one shown."""
        for exchange in reversed(self.path):
            if exchange.reply is not None and exchange.reply.result_image is not None:
                return exchange.reply.result_image
        for exchange in reversed(self.exchanges):
            if exchange.reply is not None and exchange.reply.result_image is not None:
                return exchange.reply.result_image
        for exchange in reversed(self.exchanges):
            if exchange.request.images:
                return exchange.request.images[-1]
        return None


def pair_exchanges(turns: list[Turn]) -> list[Exchange]:
    """User turns in position order, each with its reply; replies find their request by id,
    so two tabs writing at once still pair correctly."""
    replies = {t.reply_to: t for t in turns if t.role == "model" and t.reply_to is not None}
    ordered = sorted((t for t in turns if t.role == "user"), key=lambda t: t.position)
    return [Exchange(request=t, reply=replies.get(t.id)) for t in ordered]


def path_to(exchanges: list[Exchange], tip_id: int | None) -> list[Exchange]:
    """The answered exchanges from the start to the answer `tip_id`, following each request's
    parent: exactly what a request editing that answer replays."""
    by_reply = {e.reply.id: e for e in exchanges if e.replayable and e.reply is not None}
    found: list[Exchange] = []
    current = tip_id
    while current is not None and current in by_reply and len(found) <= len(by_reply):
        exchange = by_reply[current]
        found.append(exchange)
        current = exchange.request.parent_id
    return found[::-1]


def shown_on(exchanges: list[Exchange], tip_id: int | None) -> list[Exchange]:
    on_path = path_to(exchanges, tip_id)
    anchors: set[int | None] = {e.reply.id for e in on_path if e.reply is not None}
    anchors.add(None)
    kept = {e.request.id for e in on_path}
    # The other takes made beside the current version (the same words from the same version, as
    # they land) show with it. An edited prompt is a sibling branch: never shown in sequence with
    # the current one (the switcher on the message moves between them).
    last = on_path[-1].request if on_path else None
    return [
        e
        for e in exchanges
        if e.request.id in kept
        or (not e.replayable and e.request.parent_id in anchors)
        or (last is not None and e.request.parent_id == last.parent_id and _same_prompt(e.request, last))
    ]


def _same_prompt(a: Turn, b: Turn) -> bool:
    if not (a.parts_loaded and b.parts_loaded):
        return False
    return a.text == b.text and [p.image_hash for p in a.images] == [p.image_hash for p in b.images]


def siblings(exchanges: list[Exchange], exchange: Exchange) -> list[Exchange]:
    """The answered exchanges that edit the same version as this one (its prompt edited and
    resent, or taken again), oldest first, this one among them."""
    parent = exchange.request.parent_id
    return [e for e in exchanges if e.replayable and e.request.parent_id == parent]


def leaf_of(exchanges: list[Exchange], reply_id: int) -> int:
    """The newest answer on the branch that starts at this answer (following, at each step, the
    newest answered exchange that edits it): where switching to a sibling goes."""
    children: dict[int | None, list[Exchange]] = {}
    for e in exchanges:
        if e.replayable:
            children.setdefault(e.request.parent_id, []).append(e)
    current, seen = reply_id, set()
    while current in children and current not in seen:
        seen.add(current)
        newest = max(children[current], key=lambda e: e.request.id)
        assert newest.reply is not None
        current = newest.reply.id
    return current


@dataclass(frozen=True, kw_only=True)
class StoredImage:
    hash: str
    mime_type: str
    width: int
    height: int
    size_bytes: int
    # Set on an upload that was sent smaller than it came: the full-size one, for Download.
    original_hash: str | None = None
    # What was done to an upload on its way in ("sent at 2048×1365", "location removed").
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class ConversationSummary:
    id: str
    title: str
    model: str
    updated_at: dt.datetime
    turn_count: int
    thumbnail_hash: str | None
    owner: str | None = None
    visibility: str = "private"
    deleted_at: dt.datetime | None = None
    # The read-only link, for its owner's listing only (the workspace blanks it for anyone else).
    share_token: str | None = None


@dataclass(frozen=True, kw_only=True)
class Seed:
    """A conversation not created yet: started from an image of another one ("Continue", or a
    switch of model). Held by the tab that asked; nothing is stored until its first message."""

    model: str
    settings: GenerationSettings
    title: str
    image_hash: str | None
    source_id: str


def takes_in(exchanges: list[Exchange]) -> list[list[Exchange]]:
    """The exchanges in order, with the takes of one prompt (same words, from the same version,
    answered or on their way) side by side in one group; every other exchange alone. Failures
    stay alone, where their Retry is."""
    groups: list[list[Exchange]] = []
    for exchange in exchanges:
        request = exchange.request
        alike = exchange.replayable or request.status.in_flight
        if groups and alike:
            first = groups[-1][0].request
            if (
                (groups[-1][0].replayable or first.status.in_flight)
                and first.parent_id == request.parent_id
                and first.text == request.text
                and [p.image_hash for p in first.images] == [p.image_hash for p in request.images]
            ):
                groups[-1].append(exchange)
                continue
        groups.append([exchange])
    return groups


@dataclass(frozen=True, kw_only=True)
class WaitingMessage:
    """A message typed ahead while the tab's own turn was being made: it waits, in order, and
    goes when that turn lands. Editable and removable until it goes."""

    id: int
    conversation_id: str
    after_turn_id: int | None
    text: str
    image_hashes: list[str]
    takes: int
    created_at: dt.datetime
    # Why it does not go by itself (the turn before it failed, was cancelled...); None: it waits.
    held: str | None = None


@dataclass(frozen=True, kw_only=True)
class LiveProgress:
    """What a running turn has shown so far while its answer streams (STUDIO_STREAM=1): the
    model's latest thought summary and draft image. Written by the process holding the turn,
    read by any tab watching it (another process may serve that tab); gone when the turn ends."""

    turn_id: int
    thought: str | None
    draft_hash: str | None
    updated_at: dt.datetime
