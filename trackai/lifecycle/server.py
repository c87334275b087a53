"""Private Postgres servers: the isolated server a restore drill starts, and the source servers the
tests and the archive bench run (archive_mode on, WAL shipped to the object store).

A server listens on 127.0.0.1 at a free port and on a unix socket in its own directory; nothing else
can reach it. It is stopped by ``stop()`` (``pg_ctl -m fast``) and its directory is the caller's to
remove.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from trackai.lifecycle import pgtools
from trackai.net import free_port
from trackai.settings import Settings


def wal_command(action: str) -> str:
    """archive_command / restore_command: this interpreter running trackai.lifecycle.wal."""
    placeholders = "%p %f" if action == "push" else "%f %p"
    return f"{shlex.quote(sys.executable)} -m trackai.lifecycle.wal {action} {placeholders}"


def sealing_env(settings: Settings | None) -> dict[str, str]:
    """The key the server's archive/restore commands seal WAL with, for a private server started here:
    in development the key is a file only our account may read, and the server runs as another one."""
    from trackai import secrets
    from trackai.settings import get_settings

    return {"TRACKAI_SECRET_KEY": secrets._key(settings or get_settings()).decode()}  # the one key resolver


@dataclass
class PrivateServer:
    datadir: Path
    port: int
    settings: Settings | None = None
    env: dict[str, str] = field(default_factory=dict)
    # short on purpose: a unix socket path is limited to 107 bytes
    socket_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="trackai-pg-")))

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @classmethod
    def init(
        cls,
        datadir: Path,
        *,
        settings: Settings | None = None,
        archive: bool = False,
        archive_timeout_s: int = 60,
        env: dict[str, str] | None = None,
    ) -> PrivateServer:
        """initdb a new cluster (trust auth on loopback only); ``archive`` ships WAL to the object store."""
        datadir.mkdir(parents=True, exist_ok=True)
        pgtools.give_to_server_user(datadir)
        pgtools.make_interpreter_reachable()
        pgtools.run(
            "initdb",
            ["-D", str(datadir), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync"],
            settings=settings,
            as_server_user=True,
        )
        server = cls(datadir, free_port(), settings, {**sealing_env(settings), **(env or {})})
        conf = {
            "wal_level": "replica",
            "max_wal_senders": "4",
            "track_commit_timestamp": "on",
            "fsync": "on",
        }
        if archive:
            conf.update(
                archive_mode="on",
                archive_command=wal_command("push"),
                archive_timeout=str(archive_timeout_s),
            )
        server.configure(conf)
        return server

    def configure(self, values: dict[str, str]) -> None:
        """Append settings to postgresql.auto.conf (the last value of a name wins)."""
        lines = [f"{k} = '{str(v).replace(chr(39), chr(39) * 2)}'" for k, v in values.items()]
        with (self.datadir / "postgresql.auto.conf").open("a") as handle:
            handle.write("\n# trackai.lifecycle\n" + "\n".join(lines) + "\n")

    def start(self, *, wait_s: float = 120) -> None:
        pgtools.make_interpreter_reachable()
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        pgtools.give_to_server_user(self.socket_dir)
        pgtools.give_to_server_user(self.datadir)
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.socket_dir}"
        pgtools.run(
            "pg_ctl",
            [
                "-D",
                str(self.datadir),
                "-o",
                options,
                "-l",
                str(self.datadir / "server.log"),
                "-w",
                "-t",
                str(int(wait_s)),
                "start",
            ],
            settings=self.settings,
            as_server_user=True,
            env=self.env,
        )

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            pgtools.run(
                "pg_ctl",
                ["-D", str(self.datadir), "-m", "fast", "-w", "stop"],
                settings=self.settings,
                as_server_user=True,
            )

    def wait_ready(self, *, timeout_s: float = 600, promoted: bool = True) -> None:
        """Until the server accepts connections (and, with ``promoted``, has left recovery)."""
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.url(), connect_timeout=2) as conn:
                    in_recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
                if not (promoted and in_recovery):
                    return
            except psycopg.OperationalError as exc:
                last = exc
                if not (self.datadir / "postmaster.pid").exists():
                    raise RuntimeError(
                        f"server on port {self.port} is not running:\n{self.log_tail()}"
                    ) from exc
            time.sleep(0.2)
        raise TimeoutError(f"server on port {self.port} not ready after {timeout_s}s ({last})")

    def log_tail(self, chars: int = 3000) -> str:
        path = self.datadir / "server.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""
