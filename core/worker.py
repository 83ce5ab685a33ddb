"""`python -m core.worker`: runs turns without serving pages, with the same settings, leases and
ledger as the web processes (the environment, then `.streamlit/secrets.toml`).

It takes turns from the shared queue as they are queued (PostgreSQL LISTEN/NOTIFY, polling as
the fallback, `FOR UPDATE SKIP LOCKED` so two workers never take one turn). On SIGTERM it takes
nothing more, finishes the calls it has out within STUDIO_DRAIN_S, stores their answers and
exits; set the orchestrator's grace period above that. A second SIGTERM (or SIGINT) stops at
once, leaving what is still out to the lease rules.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import tomllib
from pathlib import Path
from types import FrameType
from typing import Any

from core.config import PROJECT_ROOT, load_settings
from core.service import StudioService

log = logging.getLogger("studio.worker")


def _secrets(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=8, help="turns run at once (default 8)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)

    settings = load_settings(secrets=_secrets(PROJECT_ROOT / ".streamlit" / "secrets.toml"))
    if not settings.run_turns:
        log.error("STUDIO_RUN_TURNS=0 is for web processes that only queue; a worker runs turns")
        return 2
    service = StudioService.from_settings(settings, workers=max(1, args.workers))
    stop = threading.Event()
    signals: list[int] = []

    def on_signal(number: int, _frame: FrameType | None) -> None:
        signals.append(number)
        stop.set()
        if len(signals) > 1:
            log.warning("a second signal: stopping now; calls still out are left to the lease rules")
            raise SystemExit(1)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("worker %s running turns (%d at once)", service.runner.owner, service.runner.workers)
    while not stop.wait(3600):
        pass
    log.info("draining: taking no more turns, finishing the calls out (up to %.0f s)", settings.drain_s)
    drained = service.drain()
    service.close()
    return 0 if drained.left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
