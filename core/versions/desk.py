"""Versions as one person works with them: the tree, Branch from here, another take, compare,
marked regions and export, each checked against who may read or change the conversation."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from core.errors import InvalidInput, NotFound
from core.media import marks as marking
from core.values import Seen, Turn
from core.versions.tree import Version, VersionTree, export_zip, review_notes, version_tree

if TYPE_CHECKING:
    from core.media.library import ImageLibrary
    from core.storage.store import Store
    from core.team.gallery import Gallery
    from core.team.guard import Guard
    from core.team.sharing import SharingStore
    from core.turns.dispatch import Dispatch
    from core.turns.service import TurnService


class Studio(Protocol):
    """What the desk uses of the studio's wiring (core/service.py builds it)."""

    store: Store
    turns: TurnService
    sharing: SharingStore
    images: ImageLibrary
    gallery: Gallery
    dispatch: Dispatch


class VersionDesk:
    """Built by a person's workspace with their guard; `submit` is the workspace's own (a marked
    edit is a message like any other: queued, or kept as a failed turn that says why)."""

    def __init__(self, guard: Guard, service: Studio, *, submit: Callable[..., tuple[Turn, Exception | None]]) -> None:
        self.guard = guard
        self.service = service
        self.submit = submit

    def tree(self, conversation_id: str, token: str | None = None) -> VersionTree:
        head = self.guard.head(conversation_id, token)
        with self.service.store.read() as db:
            return version_tree(db, conversation_id, head.tip_id)

    def branch(self, reply_id: int) -> int:
        """Make this version the current one: the next message edits it, and the request replays
        exactly the exchanges from the start to it."""
        self.guard.owned_turn(reply_id)
        return self.service.turns.branch(reply_id)

    def takes(self, reply_id: int, count: int, *, seen: Seen | int | bool | None = False) -> Turn:
        """N more takes of this version's prompt, from the version it was made from."""
        self.guard.owned_turn(reply_id)
        return self.service.dispatch.go(self.service.turns.regenerate(reply_id, seen=seen, takes=count))[0]

    def mark(
        self, conversation_id: str, image_hash: str, text: str, raw_marks: list[dict[str, Any]], **options: Any
    ) -> tuple[Turn, Exception | None]:
        """Send an edit of the current image limited to the boxes and strokes drawn on it: the image
        with the marks drawn goes as a reference beside the instruction; the marks are kept with
        the turn."""
        self.guard.owned(conversation_id)
        if not self.service.sharing.image_in(conversation_id, image_hash):
            raise NotFound("That image is not part of this conversation.")
        boxes = marking.clean_marks(raw_marks)
        if not boxes:
            raise InvalidInput("Draw at least one box or brush stroke on the image first.")
        unsaid = [n for n, mark in enumerate(boxes, start=1) if not mark["note"]]
        if unsaid and not text.strip():
            raise InvalidInput(f"Say what to change in mark {unsaid[0]}, or for all the marks at once.")
        data, _mime = self.service.images.download(image_hash)
        marked = self.service.images.put(marking.draw_marks(data, boxes), "image/png")
        self.service.images.grant(self.guard.user.key, marked.hash)  # made for this person from an image they may read
        return self.submit(conversation_id, marking.instruction(text, boxes), [marked.hash], marks=boxes, **options)

    def compare(self, conversation_id: str, left: int, right: int, at: float, token: str | None = None) -> bytes:
        """Two versions over each other, split at `at` of the width."""
        found = self.tree(conversation_id, token).by_reply
        if left not in found or right not in found:
            raise NotFound("That version is not part of this conversation.")
        a, b = found[left].image_hash, found[right].image_hash
        if a is None or b is None:
            raise InvalidInput("Both versions need an image to compare.")
        return marking.wipe(self.service.images.download(a)[0], self.service.images.download(b)[0], at)

    def starred(self, conversation_id: str, token: str | None = None) -> list[Version]:
        """The versions of this conversation the person starred (in the gallery), oldest first."""
        tree = self.tree(conversation_id, token)
        stars = self.service.gallery.starred(self.guard.user, [v.reply_id for v in tree.versions])
        return [v for v in tree.versions if v.reply_id in stars]

    def export(self, conversation_id: str, chosen: list[int] | None = None, token: str | None = None) -> bytes:
        """The current branch's versions (or the chosen ones, in the tree's order) as a zip with a
        prompt log."""
        head = self.guard.head(conversation_id, token)
        tree = self.tree(conversation_id, token)
        if chosen is not None and not chosen:
            raise InvalidInput("Choose at least one version to export.")
        if chosen and not set(chosen) <= set(tree.by_reply):
            raise NotFound("That version is not part of this conversation.")
        versions: list[Version] = [v for v in tree.versions if v.reply_id in set(chosen)] if chosen else tree.path()
        images = {v.image_hash: self.service.images.download(v.image_hash) for v in versions if v.image_hash}
        with self.service.store.read() as db:
            notes = review_notes(db, [v.reply_id for v in versions])
        return export_zip(
            versions, images, title=head.title, model=head.model, person=head.owner or "someone", notes=notes
        )
