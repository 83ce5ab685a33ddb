"""One person's gate to conversations: every verb-holder (the workspace, the version desk, and
any later one) asks it before acting, so the rules of core/team/access.py are applied in one
place and nobody reaches into another's private checks."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import Forbidden, NotFound
from core.storage.store import NO_CONVERSATION, Store
from core.team import access
from core.team.people import User
from core.team.sharing import SharingStore
from core.values import Conversation, Turn

READ_ONLY = "Only its owner can change this conversation. Make a copy to go on from it."


@dataclass(frozen=True, kw_only=True)
class Guard:
    user: User
    store: Store
    sharing: SharingStore

    def head(self, conversation_id: str, token: str | None = None) -> Conversation:
        """The conversation's head (no turns), if this person may read it."""
        try:
            head = self.store.conversation(conversation_id, with_turns=False)
        except NotFound:
            raise NotFound(NO_CONVERSATION) from None
        by_link = bool(token) and self.sharing.by_token(token or "") == conversation_id
        if not access.can_read(self.user, head, by_link=by_link):
            raise NotFound(NO_CONVERSATION)  # the same words as a missing one: nothing leaks
        return head

    def may_read_image(self, image_hash: str) -> bool:
        """Whether a conversation this person may read holds this image."""
        for conversation_id in self.sharing.holders(image_hash):
            try:
                self.head(conversation_id)
                return True
            except NotFound:
                continue
        return False

    def owned(self, conversation_id: str) -> Conversation:
        head = self.head(conversation_id)
        if not access.can_own(self.user, head):
            raise Forbidden(READ_ONLY)
        return head

    def owned_turn(self, turn_id: int) -> Turn:
        try:
            turn = self.store.turn(turn_id)
        except NotFound:
            raise NotFound("That turn no longer exists.") from None
        self.owned(turn.conversation_id)
        return turn
