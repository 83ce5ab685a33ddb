"""Who may do what with a conversation. Every rule is here; the workspace applies them to each
verb, and someone who may not read a conversation learns nothing of it (not even that it exists).

- read: its owner; a demo's visitor nothing else (visitors never publish nor read others' work);
  anyone signed in when it is shared with the team or opened by its share link;
  an admin always. A conversation in the trash: its owner and admins only.
- own (send, retry, redo, cancel, rename, settings, share, delete): its owner only.
- restore or delete forever from the trash: its owner, or an admin.
"""

from __future__ import annotations

from core.team.people import User
from core.values import Conversation, ConversationSummary

TEAM = "team"
PRIVATE = "private"


def is_owner(user: User, conversation: Conversation | ConversationSummary) -> bool:
    return (conversation.owner or "").lower() == user.key


def can_read(user: User, conversation: Conversation | ConversationSummary, *, by_link: bool = False) -> bool:
    if user.is_admin or is_owner(user, conversation):
        return True
    if conversation.deleted_at is not None or user.is_visitor:
        return False
    return conversation.visibility == TEAM or by_link


def can_own(user: User, conversation: Conversation | ConversationSummary) -> bool:
    return is_owner(user, conversation) and conversation.deleted_at is None


def can_restore(user: User, conversation: Conversation | ConversationSummary) -> bool:
    return is_owner(user, conversation) or user.is_admin
