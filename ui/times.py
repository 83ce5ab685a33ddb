"""Times as the person reads them: in their own time zone, from their browser."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import streamlit as st


def local_time(when: dt.datetime) -> str:
    """A stored UTC time in the person's own time zone (from their browser)."""
    zone_name = st.context.timezone
    try:
        zone = ZoneInfo(zone_name) if zone_name else dt.UTC
    except (KeyError, ValueError):
        zone = dt.UTC
    local = when.replace(tzinfo=dt.UTC).astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M}" + ("" if zone_name else " UTC")
