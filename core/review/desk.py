"""Review as one person works with it: comments, statuses, their inbox and the brand kit, each
verb checked by the person's guard (core/team/guard.py) and the rules in core/review/rules.py.
Whoever may not read a conversation gets the same "does not exist" as for the conversation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import Forbidden, InvalidInput, NotFound
from core.review import rules
from core.review.comments import Comment, ReviewStore
from core.review.inbox import Inbox, InboxEntry
from core.review.kit import Kit, KitItem, KitUse
from core.review.presets import Preset, Presets, fill
from core.review.rules import Status
from core.storage.database import Database
from core.versions.tree import version_tree

if TYPE_CHECKING:
    from core.media.library import ImageLibrary
    from core.team.guard import Guard
    from core.values import Conversation

TEAM_ONLY = "Comments, review and the brand kit are for the team's signed-in people."
OWNER_ONLY = "Only the conversation's owner (or an admin) can set a version's status."


@dataclass(frozen=True, kw_only=True)
class Mentionable:
    email: str
    name: str


class Review:
    """The review's stores, built once per process (core/service.py)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.store = ReviewStore(db)
        self.inbox = Inbox(db)
        self.kit = Kit(db)
        self.presets = Presets(db)


class ReviewDesk:
    def __init__(self, guard: Guard, review: Review, images: ImageLibrary) -> None:
        self.guard = guard
        self.review = review
        self.images = images

    @property
    def user(self):  # type: ignore[no-untyped-def]
        return self.guard.user

    @property
    def enabled(self) -> bool:
        return rules.is_team_member(self.user)

    def _member(self) -> None:
        if not self.enabled:
            raise Forbidden(TEAM_ONLY)

    def _readable(self, conversation_id: str, token: str | None) -> Conversation:
        head = self.guard.head(conversation_id, token)  # NotFound: nothing of it leaks
        self._member()
        return head

    def remember_me(self) -> None:
        if self.enabled:
            self.review.store.remember(self.user)

    # Comments -----------------------------------------------------------------------------

    def comments(
        self, conversation_id: str, token: str | None = None, reply_ids: list[int] | None = None
    ) -> dict[int, list[Comment]]:
        """The comments on this conversation's versions (or on these), by answer id (none for a
        visitor)."""
        self.guard.head(conversation_id, token)
        if not self.enabled:
            return {}
        return self.review.store.comments(conversation_id, reply_ids)

    def comment_counts(self, conversation_id: str, token: str | None = None) -> dict[int, int]:
        self.guard.head(conversation_id, token)
        return self.review.store.counts(conversation_id) if self.enabled else {}

    def comment(self, conversation_id: str, reply_id: int, text: str, token: str | None = None) -> Comment:
        self._readable(conversation_id, token)
        body = rules.clean_comment(text)
        return self.review.store.add(conversation_id, reply_id, self.user, body, self._mentions(body))

    def _mentions(self, body: str) -> list[str]:
        return [m for m in rules.mentioned(body, self.review.store.people()) if m != self.user.key]

    def _own_comment(self, comment_id: int, token: str | None) -> Comment:
        found = self.review.store.comment(comment_id)
        self._readable(found.conversation_id, token)
        if found.author != self.user.key:
            raise Forbidden("Only its author can change or delete a comment.")
        return found

    def edit_comment(self, comment_id: int, text: str, token: str | None = None) -> Comment:
        self._own_comment(comment_id, token)
        body = rules.clean_comment(text)
        return self.review.store.edit(comment_id, self.user, body, self._mentions(body))

    def delete_comment(self, comment_id: int, token: str | None = None) -> None:
        self._own_comment(comment_id, token)
        self.review.store.delete(comment_id, self.user)

    def mention_choices(self, conversation_id: str, token: str | None = None) -> list[Mentionable]:
        """People to mention here: those who may read it (everyone seen, for a team conversation;
        else its owner), for the picker."""
        head = self._readable(conversation_id, token)
        people = self.review.store.people()
        if head.visibility != "team":
            owner = (head.owner or "").lower()
            people = {e: n for e, n in people.items() if e == owner}
        return sorted(
            (Mentionable(email=e, name=n) for e, n in people.items() if e != self.user.key and rules.is_team_email(e)),
            key=lambda m: m.name.lower(),
        )

    # Status -------------------------------------------------------------------------------

    def statuses(self, conversation_id: str, token: str | None = None) -> dict[int, Status]:
        self.guard.head(conversation_id, token)
        return self.review.store.statuses(conversation_id)

    def can_set_status(self, conversation: Conversation) -> bool:
        return rules.can_set_status(self.user, conversation)

    def set_status(self, conversation_id: str, reply_id: int, status: str | Status) -> bool:
        head = self._readable(conversation_id, None)
        if not rules.can_set_status(self.user, head):
            raise Forbidden(OWNER_ONLY)
        chosen = status if isinstance(status, Status) else rules.parse_status(status)
        with self.review.db.read() as db:
            version = version_tree(db, conversation_id, head.tip_id).by_reply.get(reply_id)
        if version is None:
            raise NotFound("That version is not part of this conversation.")
        return self.review.store.set_status(conversation_id, reply_id, chosen, self.user, version.number)

    # Inbox --------------------------------------------------------------------------------

    def inbox(self, *, limit: int = 50, offset: int = 0, unread_only: bool = False) -> list[InboxEntry]:
        if not self.enabled:
            return []
        return self.review.inbox.entries(self.user, limit=limit, offset=offset, unread_only=unread_only)

    def unread(self) -> int:
        return self.review.inbox.unread(self.user) if self.enabled else 0

    def mark_read(self, entry_ids: list[int] | None = None) -> int:
        return self.review.inbox.mark_read(self.user, entry_ids) if self.enabled else 0

    # Brand kit ----------------------------------------------------------------------------

    def kit(self, search: str | None = None, *, retired: bool = False) -> list[KitItem]:
        self._member()
        return self.review.kit.items(search=search, retired=retired)

    def add_to_kit(
        self, data: bytes, filename: str, name: str, tags: list[str] | str = ""
    ) -> tuple[KitItem, str | None]:
        """Checked and converted as an upload (size, format, EXIF, sized for the model), stored
        once by content hash; the note says what was done to it, as for an upload."""
        self._member()
        clean, tag_list = rules.clean_name(name), rules.clean_tags(tags)
        upload = self.images.add_upload(data, filename)
        return self.review.kit.add(self.user, upload.image.hash, clean, tag_list), upload.note

    def retire(self, item_id: int) -> None:
        self._member()
        item = self.review.kit.item(item_id)
        if not rules.can_retire(self.user, item.owner):
            raise Forbidden("Only the person who added it, or an admin, can retire a kit item.")
        self.review.kit.retire(item_id, self.user)

    def kit_uses(self, item_id: int) -> list[KitUse]:
        self._member()
        return self.review.kit.uses(self.user, item_id)

    def attach(self, item_ids: list[int]) -> list[str]:
        """The images of these kit items, to send with a message (retired ones are refused)."""
        self._member()
        hashes = []
        for item_id in item_ids:
            item = self.review.kit.item(item_id)
            if item.retired_at is not None:
                raise InvalidInput(f"“{item.name}” was retired from the brand kit; choose another.")
            hashes.append(item.image_hash)
        return hashes

    def kit_hashes(self, hashes: list[str]) -> set[str]:
        """Which of these images this person may attach because they are in the brand kit."""
        return self.review.kit.active_hashes(hashes) if self.enabled else set()

    # Prompt presets -----------------------------------------------------------------------

    def presets(self) -> list[Preset]:
        self._member()
        return self.review.presets.items()

    def add_preset(self, name: str, body: str) -> Preset:
        self._member()
        return self.review.presets.add(self.user, rules.clean_name(name), body)

    def retire_preset(self, preset_id: int) -> None:
        self._member()
        if not rules.can_retire(self.user, self.review.presets.owner_of(preset_id)):
            raise Forbidden("Only the person who added it, or an admin, can retire a preset.")
        self.review.presets.retire(preset_id, self.user)

    def fill_preset(self, preset_id: int, values: dict[str, str]) -> str:
        """The preset's words with its placeholders filled, for the chat input."""
        self._member()
        found = next((p for p in self.review.presets.items() if p.id == preset_id), None)
        if found is None:
            raise NotFound("That preset does not exist.")
        return fill(found.body, values)
