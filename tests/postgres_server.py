"""A real PostgreSQL server from Debian's `postgresql` package, started in a temporary directory
for the tests and the bench (as the `postgres` user when run as root: the server refuses root)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class PostgresMissing(RuntimeError):
    pass


def _bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


INITDB_OPTIONS = ("-A", "trust", "-U", "studio", "-E", "UTF8", "--no-sync")


class PostgresServer:
    """A server in a temporary directory that a test can stop and start again (same port, same
    data): a database outage on demand."""

    def __init__(self) -> None:
        bindir = _bindir()
        if bindir is None:
            raise PostgresMissing("pg_ctl not found")
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="studio-pg-"))
        self.base.chmod(0o755)
        self.data, sockets, self.log = self.base / "data", self.base / "sockets", self.base / "server.log"
        sockets.mkdir()
        self.runner: list[str] = []
        if os.geteuid() == 0:
            self.runner = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.base, "postgres")
            shutil.chown(sockets, "postgres")
        subprocess.run(
            [*self.runner, str(bindir / "initdb"), "-D", str(self.data), *INITDB_OPTIONS],
            check=True,
            capture_output=True,
        )
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.options = f"-p {self.port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
        self.url = f"postgresql+psycopg://studio@127.0.0.1:{self.port}"

    def _ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run(
            [*self.runner, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args], check=check, capture_output=True
        )

    def start(self) -> None:
        self._ctl("-o", self.options, "-l", str(self.log), "-w", "start")

    def stop(self, mode: str = "immediate") -> None:
        self._ctl("-m", mode, "-w", "stop", check=False)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@contextmanager
def temporary_postgres() -> Iterator[str]:
    """Yields `postgresql+psycopg://studio@127.0.0.1:PORT` (no database name)."""
    server = PostgresServer()
    server.start()
    try:
        yield server.url
    finally:
        server.remove()


def create_database(server_url: str, name: str) -> str:
    import psycopg

    admin = server_url.replace("postgresql+psycopg", "postgresql") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url}/{name}"
