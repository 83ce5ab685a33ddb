"""Who may comment, set a version's status and use the brand kit, and how words become
mentions. Built on core/team/access.py: whoever may not read a conversation may not touch its
comments or status either, and learns nothing of them.

- comment: anyone signed in who may read the conversation (owner, team, a share link, an
  admin); never a demo visitor (a browser, not a person of the team).
- edit or delete a comment: its author, while they may still read the conversation.
- set a version's status: the conversation's owner, or an admin; not in the trash.
- the brand kit: anyone signed in sees it and adds to it; its owner or an admin retires an item.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

from core.errors import InvalidInput
from core.team import access
from core.team.people import VISITOR_DOMAIN, User
from core.values import Conversation

MAX_COMMENT_CHARS = 4_000
MAX_NAME_CHARS = 120
MAX_TAGS = 12


class Status(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in review"
    APPROVED = "approved"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        return self.value.capitalize()


def is_team_member(user: User) -> bool:
    """Signed in as a person of the team: a demo's visitor is a browser, not a colleague."""
    return not user.key.endswith("@" + VISITOR_DOMAIN)


def can_comment(user: User, conversation: Conversation, *, by_link: bool = False) -> bool:
    return is_team_member(user) and access.can_read(user, conversation, by_link=by_link)


def can_set_status(user: User, conversation: Conversation) -> bool:
    if not is_team_member(user) or conversation.deleted_at is not None:
        return False
    return access.is_owner(user, conversation) or user.is_admin


def can_retire(user: User, owner: str) -> bool:
    return is_team_member(user) and (user.is_admin or owner.lower() == user.key)


def parse_status(value: str) -> Status:
    try:
        return Status(value.strip().lower())
    except ValueError:
        raise InvalidInput(f"A version's status is one of: {', '.join(s.value for s in Status)}.") from None


def clean_comment(text: str) -> str:
    """Words kept as typed (they render literally), without surrounding blank space."""
    body = text.strip()
    if not body:
        raise InvalidInput("Write something to comment.")
    if len(body) > MAX_COMMENT_CHARS:
        raise InvalidInput(f"A comment is at most {MAX_COMMENT_CHARS:,} characters; this one is {len(body):,}.")
    return body


def clean_name(text: str) -> str:
    name = "".join(c for c in " ".join(text.split()) if unicodedata.category(c) != "Cc")
    if not name:
        raise InvalidInput("Give the kit item a name.")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"A name is at most {MAX_NAME_CHARS} characters.")
    return name


def clean_tags(tags: list[str] | str) -> list[str]:
    raw = tags.split(",") if isinstance(tags, str) else tags
    found = list(dict.fromkeys(t.strip().lower()[:40] for t in raw if t and t.strip()))
    if len(found) > MAX_TAGS:
        raise InvalidInput(f"At most {MAX_TAGS} tags.")
    return found


# "@ann", "@ann@example.com", "@Ann.Lee": an email, an email's local part, or a name's words.
_MENTION = re.compile(r"(?<![\w@])@([\w.+-]+(?:@[\w-]+(?:\.[\w-]+)+)?)", re.UNICODE)


def mentioned(text: str, people: dict[str, str]) -> list[str]:
    """The emails of the people these words mention, in order. `people` maps email to name.
    A handle matches a full email, an email's local part, a name, or a name with its spaces
    written as dots ("@ann.lee"); an unknown full email is taken as written."""
    by_handle: dict[str, str] = {}
    for email, name in people.items():
        email = email.lower()
        by_handle.setdefault(email, email)
        by_handle.setdefault(email.split("@", 1)[0], email)
        words = name.strip().lower().split()
        if words:
            by_handle.setdefault(".".join(words), email)
            by_handle.setdefault(words[0], email)
    found: list[str] = []
    for match in _MENTION.finditer(text):
        handle = match.group(1).lower().rstrip(".")
        email = by_handle.get(handle) or (handle if "@" in handle else "")
        if email and email not in found:
            found.append(email)
    return found


def is_team_email(email: str) -> bool:
    return not email.lower().endswith("@" + VISITOR_DOMAIN)
