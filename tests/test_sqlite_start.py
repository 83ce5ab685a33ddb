"""SQLite at start-up: processes starting at once on a new database all come up."""

from __future__ import annotations

import subprocess
import sys
import time

from sqlalchemy import create_engine, text

from core.storage.database import head_revision
from tests.conftest import ROOT

START = """
import sys, time
sys.path.insert(0, {root!r})
from core.storage.store import Store
go = float(sys.argv[1])
while time.time() < go:
    time.sleep(0.001)
Store({url!r}).engine.dispose()
print("started")
"""


def test_eight_processes_starting_at_once_on_a_new_database_all_start(tmp_path):
    """Each migrates at start-up; SQLite refuses a second writer's lock upgrade at once
    ("database is locked", whatever busy_timeout says), so they must take turns."""
    url = f"sqlite:///{tmp_path / 'studio.db'}"
    script = START.format(root=str(ROOT), url=url)
    go = time.time() + 4  # every interpreter has imported SQLAlchemy and Alembic by then
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(8)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    failures = [err.decode()[-400:] for (out, err), p in zip(results, procs, strict=True) if p.returncode != 0]
    assert failures == []
    assert all(out.decode().strip() == "started" for out, _ in results)
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    engine.dispose()
