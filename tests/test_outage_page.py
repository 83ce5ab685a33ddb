"""What counts as the database being away, and a page that meets an error that only looks like it:
the error is shown once, not waited on in a loop of reruns."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from core.service import StudioService
from core.storage.outage import unreachable
from tests.test_pages import app_env, studio  # noqa: F401


@pytest.mark.parametrize(
    ("orig", "away"),
    [
        (sqlite3.OperationalError("attempt to write a readonly database"), True),
        (sqlite3.OperationalError("database or disk is full"), True),
        (sqlite3.OperationalError("unable to open database file"), True),
        (sqlite3.OperationalError("no such table: waiting_messages"), False),
        (psycopg.OperationalError("connection failed: Connection refused"), True),
        (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), False),
        (psycopg.errors.LockNotAvailable("could not obtain lock"), False),
    ],
)
def test_only_a_database_that_cannot_be_reached_counts_as_away(orig, away):
    assert unreachable(OperationalError("SELECT 1", None, orig)) is away


def test_a_page_meeting_an_error_that_only_looks_like_an_outage_shows_it_once(app_env, settings):  # noqa: F811
    svc = StudioService.from_settings(settings)
    conversation = svc.new_conversation()
    svc.close()
    engine = create_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE waiting_messages"))
    engine.dispose()
    at = studio(session=conversation.id)  # before: reran itself for ever (the ping answered)
    assert at.exception  # the error as it is (its details in the log), not "cannot reach"
    assert not [w for w in at.warning if "cannot reach its database" in w.value]
