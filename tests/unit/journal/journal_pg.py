"""A throwaway PostgreSQL server for the journal tests: Debian's binaries (the `postgresql`
package), a fresh cluster in a temp dir, listening on a free 127.0.0.1 port only.

PostgreSQL refuses to run as root, and the tests run as root: then initdb and the server run as
the `postgres` system user (runuser), in a temp dir it owns. The server is stopped by its PID
(from postmaster.pid): SIGINT is PostgreSQL's fast shutdown; SIGKILL if it lingers.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

T0 = 1_700_000_000.0  # the tests' fixed clock


@dataclass(frozen=True, slots=True)
class Target:
    """Where a test's journal lives, and how that backend reports a refused write."""

    dialect: str
    location: str  # a SQLite path or a postgresql:// URL
    refused: type[Exception]


BIN = Path(os.environ.get("TALLYIO_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PgServerError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _running(pid: int) -> bool:
    """Alive and not a zombie (the postmaster is not our child: we cannot reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


class PgServer:
    def __init__(self) -> None:
        if not (BIN / "initdb").exists():
            raise PgServerError(
                f"no PostgreSQL binaries in {BIN}: install Debian's postgresql (make setup)"
            )
        self._as_postgres = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="tallyio-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.pid: int | None = None
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        done = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise PgServerError(f"{argv[0]} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> PgServer:
        # --no-sync skips only initdb's flush of the new cluster; the server fsyncs as usual.
        self._run(str(BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--no-instructions", "--no-sync")  # fmt: skip
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.dir / "server.log"), "-w", "-t", "60", "start")  # fmt: skip
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:  # for integrity checks
            conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_schema_url(self) -> str:
        """A URL whose connections work in a new, empty schema (one per test)."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        return f"{self.url()}?options=-csearch_path%3D{name}"

    def stop(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGINT)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline and _running(self.pid):
                    time.sleep(0.05)
                if _running(self.pid):
                    os.kill(self.pid, signal.SIGKILL)
            self.pid = None
        shutil.rmtree(self.dir, ignore_errors=True)
