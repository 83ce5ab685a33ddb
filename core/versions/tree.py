"""The versions of a conversation: every answered result is a version; requests name the version
they edit, so versions form a tree. Read here for the version strip, comparison and export."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from core.media import marks as marking
from core.storage.schema import CommentRow, PartRow, TurnRow, VersionStatusRow
from core.values import TurnStatus


@dataclass(frozen=True, kw_only=True)
class Version:
    number: int  # 1-based, in the order they were made
    reply_id: int
    request_id: int
    parent_id: int | None  # the version it was made from (None: from the start)
    image_hash: str | None
    prompt: str  # the person's own words (for a marked region, without the studio's instruction)
    created_at: dt.datetime | None
    settings: dict[str, Any] = field(default_factory=dict)
    cost_micro: int | None = None
    marks: list[dict[str, Any]] | None = None
    made_from: int | None = None  # the number of the version it was made from
    sent: str | None = None  # for a marked region: the whole text sent, the studio's instruction included
    author: str | None = None  # who sent the prompt (in a team conversation, not always its owner)

    @property
    def file_name(self) -> str:
        """What its image downloads as, without the extension: `v3-red-bicycle-on-a-beach`."""
        stem = marking.file_stem(self.prompt)
        return f"v{self.number}-{stem}" if stem else f"v{self.number}"


@dataclass(frozen=True, kw_only=True)
class VersionTree:
    versions: list[Version]
    tip_id: int | None

    @property
    def by_reply(self) -> dict[int, Version]:
        return {v.reply_id: v for v in self.versions}

    def path(self, reply_id: int | None = None) -> list[Version]:
        """From the start to this version (the tip by default)."""
        found = self.by_reply
        chain: list[Version] = []
        current = self.tip_id if reply_id is None else reply_id
        while current is not None and current in found and len(chain) <= len(found):
            chain.append(found[current])
            current = found[current].parent_id
        return chain[::-1]

    def siblings(self, reply_id: int) -> list[Version]:
        """Every take made from the same version as this one (itself included)."""
        mine = self.by_reply.get(reply_id)
        if mine is None:
            return []
        return [v for v in self.versions if v.parent_id == mine.parent_id]

    def branch_name(self, reply_id: int) -> str:
        """A branch is named by its first prompt after the versions it shares with others."""
        path = self.path(reply_id)
        for version in path:
            if len(self.siblings(version.reply_id)) > 1:
                return version.prompt[:60] or f"version {version.number}"
        return path[0].prompt[:60] if path else ""


def version_tree(db: Session, conversation_id: str, tip_id: int | None) -> VersionTree:
    reply, request = aliased(TurnRow), aliased(TurnRow)
    rows = db.execute(
        select(
            reply.id,
            reply.reply_to_id,
            request.parent_id,
            reply.created_at,
            reply.cost_micro,
            request.settings,
            request.marks,
            request.author,
        )
        .join(request, request.id == reply.reply_to_id)
        .where(
            reply.conversation_id == conversation_id,
            reply.role == "model",
            reply.status == TurnStatus.OK.value,
            request.status == TurnStatus.OK.value,
        )
        .order_by(reply.position)
    ).all()
    replies = [r.id for r in rows]
    requests = [r.reply_to_id for r in rows]
    not_thought = or_(PartRow.thought.is_(None), PartRow.thought.is_(False))
    images: dict[int, str] = {}
    for turn_id, image_hash in db.execute(
        select(PartRow.turn_id, PartRow.image_hash)
        .where(PartRow.turn_id.in_(replies), PartRow.kind == "image", not_thought)
        .order_by(PartRow.turn_id, PartRow.position)
    ):
        if image_hash:
            images[turn_id] = image_hash  # the last non-thought image is the result
    prompts: dict[int, str] = {}
    for turn_id, text in db.execute(
        select(PartRow.turn_id, PartRow.text)
        .where(PartRow.turn_id.in_(requests), PartRow.kind == "text", not_thought)
        .order_by(PartRow.turn_id, PartRow.position)
    ):
        prompts[turn_id] = (prompts.get(turn_id, "") + "\n\n" + (text or "")).strip()
    numbers = {r.id: n for n, r in enumerate(rows, start=1)}
    sent = {r.reply_to_id: prompts.get(r.reply_to_id, "") for r in rows}
    return VersionTree(
        versions=[
            Version(
                number=n,
                reply_id=r.id,
                request_id=r.reply_to_id,
                parent_id=r.parent_id,
                image_hash=images.get(r.id),
                prompt=marking.own_words(sent[r.reply_to_id], r.marks),
                created_at=r.created_at,
                settings=dict(r.settings or {}),
                cost_micro=r.cost_micro,
                marks=r.marks,
                made_from=numbers.get(r.parent_id) if r.parent_id is not None else None,
                sent=sent[r.reply_to_id] if r.marks else None,
                author=r.author,
            )
            for n, r in enumerate(rows, start=1)
        ],
        tip_id=tip_id,
    )


def review_notes(db: Session, reply_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each version's review status and comments (core/review's tables), for the export."""
    notes: dict[int, dict[str, Any]] = {i: {"status": "draft", "comments": []} for i in reply_ids}
    if not reply_ids:
        return notes
    for reply_id, status in db.execute(
        select(VersionStatusRow.reply_id, VersionStatusRow.status).where(VersionStatusRow.reply_id.in_(reply_ids))
    ):
        notes[reply_id]["status"] = status
    comments = db.scalars(
        select(CommentRow).where(CommentRow.reply_id.in_(reply_ids)).order_by(CommentRow.created_at, CommentRow.id)
    )
    for comment in comments:
        notes[comment.reply_id]["comments"].append(
            {
                "author": comment.author,
                "name": comment.author_name,
                "time": comment.created_at.isoformat() + "Z",
                "words": comment.body,
            }
        )
    return notes


def export_zip(
    versions: list[Version],
    images: dict[str, tuple[bytes, str]],
    *,
    title: str,
    model: str,
    person: str,
    notes: dict[int, dict[str, Any]] | None = None,
) -> bytes:
    """The versions (a branch, or chosen favourites) as image files with a prompt log in
    Markdown and JSON: prompt, settings, model, time, person, cost, and the review's status and
    comments (`notes`, by answer id)."""
    notes = notes or {}
    log: list[dict[str, Any]] = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for version in versions:
            name = None
            if version.image_hash and version.image_hash in images:
                data, mime = images[version.image_hash]
                extension = {"image/jpeg": "jpg", "image/webp": "webp"}.get(mime, "png")
                name = f"{version.number:03d}.{extension}"
                archive.writestr(name, data)
            log.append(
                {
                    "version": version.number,
                    "file": name,
                    "prompt": version.prompt,
                    # The studio's words for a marked region, beside the person's own.
                    **({"instruction": version.sent} if version.sent else {}),
                    "made_from": version.made_from,
                    "settings": version.settings,
                    "model": model,
                    "time": version.created_at.isoformat() + "Z" if version.created_at else None,
                    "person": version.author or person,
                    "cost_usd": None if version.cost_micro is None else version.cost_micro / 1_000_000,
                    "marks": version.marks,
                    "status": notes.get(version.reply_id, {}).get("status", "draft"),
                    "comments": notes.get(version.reply_id, {}).get("comments", []),
                }
            )
        archive.writestr("prompts.json", json.dumps({"title": title, "versions": log}, indent=2, ensure_ascii=False))
        lines = [f"# {title}", "", f"Model: {model} · by {person}", ""]
        for entry in log:
            cost = "unknown" if entry["cost_usd"] is None else f"${entry['cost_usd']:.3f}"
            size = entry["settings"].get("image_size") or "default size"
            lines += [
                f"## Version {entry['version']}" + (f" ({entry['file']})" if entry["file"] else ""),
                "",
                f"> {entry['prompt'] or '(no words)'}",
                "",
                f"{entry['settings'].get('aspect_ratio', '')}, {size} · {entry['time']} · {cost}"
                f" · by {entry['person']}",
                "",
                f"Status: {entry['status']}",
                "",
            ]
            for said in entry["comments"]:
                # Quoted as typed: each line of the words behind "> ", after who said it and when.
                lines += [f"- {said['name']} ({said['author']}), {said['time']}:", ""]
                lines += [f"  > {line}" for line in said["words"].splitlines() or [""]]
                lines += [""]
        archive.writestr("prompts.md", "\n".join(lines))
    return buffer.getvalue()
