"""Where a demo visitor comes from, and their arrival: a browser's key is free to make up, a
network address is not, so the demo's limits also count by address.

The address is the TCP peer of the websocket (Streamlit's request context). `X-Forwarded-For`
is read only when that peer is one of the operator's `STUDIO_TRUSTED_PROXIES`: anyone can send
the header, so otherwise it would let a script pick a fresh address per request. Behind trusted
proxies the client is the rightmost address in the header that is not itself a trusted proxy
(the leftmost ones were written by whoever sent the request and prove nothing).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from core.storage.database import Database
from core.storage.schema import VisitorRow, utcnow

# The websocket's peer when it is this machine (Streamlit reports localhost as no address).
LOCAL_ADDRESS = "127.0.0.1"


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        return None


def _is_trusted(address: str, proxies: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(net is not None and ip in net for net in (_network(p) for p in proxies))


def _canonical(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address.strip().strip("[]")))
    except ValueError:
        return None


def client_address(peer: str | None, headers: Mapping[str, str] | None, trusted_proxies: tuple[str, ...]) -> str:
    """The visitor's address: the peer's, or behind a trusted proxy the forwarded one."""
    address = _canonical(peer or "") or LOCAL_ADDRESS
    if not trusted_proxies or not _is_trusted(address, trusted_proxies):
        return address
    found = {k.lower(): v for k, v in (headers or {}).items()}
    hops = [h.strip() for h in (found.get("x-forwarded-for") or "").split(",") if h.strip()]
    for hop in reversed(hops):
        canonical = _canonical(hop)
        if canonical is None:
            return address  # a malformed chain: count it against the proxy itself, not a made-up name
        if not _is_trusted(canonical, trusted_proxies):
            return canonical
    return address


@dataclass(frozen=True, kw_only=True)
class Arrival:
    """A visitor let in (`refusal` None), or why not."""

    refusal: str | None = None
    new: bool = False


class Visitors:
    def __init__(self, db: Database) -> None:
        self.db = db

    def arrive(self, person: str, address: str, new_per_hour: int | None) -> Arrival:
        """Record a visitor's visit from `address`. A visitor never seen before is let in only
        while the address has had fewer than `new_per_hour` new visitors in the last hour;
        someone already known always is (their own per-visitor limits still hold)."""
        now = utcnow()
        with self.db.write() as db:
            known = db.execute(
                update(VisitorRow).where(VisitorRow.person == person).values(address=address, last_seen=now)
            ).rowcount  # type: ignore[attr-defined]
            if known:
                return Arrival()
            if new_per_hour is not None:
                _lock(db, address)
                recent = db.scalar(
                    select(func.count())
                    .select_from(VisitorRow)
                    .where(VisitorRow.address == address, VisitorRow.first_seen >= now - dt.timedelta(hours=1))
                )
                if (recent or 0) >= new_per_hour:
                    return Arrival(
                        refusal=(
                            f"Too many new visitors have come from your network in the last hour (at most "
                            f"{new_per_hour}). Please come back in an hour, or use the browser you started with."
                        )
                    )
            db.add(VisitorRow(person=person, address=address, first_seen=now, last_seen=now))
            return Arrival(new=True)

    def address_of(self, person: str) -> str | None:
        with self.db.read() as db:
            return db.scalar(select(VisitorRow.address).where(VisitorRow.person == person))


def _lock(db: Session, address: str) -> None:
    # Two new visitors from one address at once on PostgreSQL: one counts after the other.
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"studio-address:{address}"})
