"""`python -m core.migrate`: bring the database in DATABASE_URL to the newest schema, with its
data. The deploy step for replicas (run once, before starting the new processes); the embedded
default also does this at start-up."""

from __future__ import annotations

import sys

from core.config import load_settings
from core.storage.database import current_revision, head_revision, make_engine, migrate


def main() -> int:
    settings = load_settings()
    engine = make_engine(settings.database_url)
    before = current_revision(engine)
    migrate(engine)
    after = current_revision(engine)
    print(f"schema: {before or 'empty'} -> {after} (head {head_revision()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
