"""A throwaway PostgreSQL server for tests and benchmarks: `initdb` into a temporary folder,
`pg_ctl start` on a free loopback port, `pg_ctl stop` and the folder removed afterwards.

    with PostgresCluster.start() as cluster:
        url = cluster.create_database("t1")  # postgresql://postgres@127.0.0.1:PORT/t1
        ...

The binaries come from `PG_BIN`, else Debian's newest `/usr/lib/postgresql/<ver>/bin`
(Debian puts them nowhere on PATH), else PATH. `initdb` refuses to run as root, so as root
every PostgreSQL command runs as `postgres` (the user Debian's package creates) or `nobody`.
No pytest here: `benchmarks/` starts clusters too.

Errors:
    PostgresError
    ├── PostgresNotFound      no initdb anywhere we look
    └── PostgresCommandError  initdb / pg_ctl failed or timed out; carries the log's tail
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psutil
import psycopg
from psycopg import sql

DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")
#: Several services, each with a pool, share one cluster.
MAX_CONNECTIONS = 200
#: Speed over crash safety: a test cluster dies with its test. Not for `durable=True`
#: (`synchronous_commit=off` alone loses acknowledged commits to an immediate restart).
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
INITDB_TIMEOUT_S = 120.0
PG_CTL_TIMEOUT_S = 60
CONNECT_TIMEOUT_S = 10
START_ATTEMPTS = 3  # a free port can be taken between choosing it and the server binding it


class PostgresError(Exception):
    """Base of every error this module raises."""


class PostgresNotFound(PostgresError):
    """No PostgreSQL binaries: set PG_BIN or install Debian's `postgresql` (`make test-tools`)."""


class PostgresCommandError(PostgresError):
    """A PostgreSQL command failed or timed out; the message ends with the server log's tail."""

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        super().__init__(
            f"{message}\n--- server log (tail) ---\n{log_tail}" if log_tail else message
        )
        self.log_tail = log_tail


def find_pg_bin() -> Path:
    """The folder holding initdb, pg_ctl and postgres; raises `PostgresNotFound`."""
    if override := os.environ.get("PG_BIN"):
        if not (Path(override) / "initdb").is_file():
            raise PostgresNotFound(f"PG_BIN={override} holds no initdb")
        return Path(override)
    # /usr/lib/postgresql/<version>/bin, newest version first (numerically: 9.6 < 15).
    debian = [p.parent for p in DEBIAN_PG_ROOT.glob("*/bin/initdb")]
    versioned = [b for b in debian if re.fullmatch(r"\d+(\.\d+)?", b.parent.name)]
    if versioned:
        return max(versioned, key=lambda b: tuple(int(x) for x in b.parent.name.split(".")))
    if found := shutil.which("initdb"):
        # Resolved: pg_ctl looks for `postgres` beside its real path, not beside a symlink.
        return Path(found).resolve().parent
    raise PostgresNotFound(
        f"no initdb in PG_BIN, {DEBIAN_PG_ROOT}/*/bin or PATH: "
        "install Debian's postgresql (`make test-tools` does it as root)"
    )


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_user() -> str | None:
    """Who runs initdb and the server: None (ourselves) unless we are root, which initdb
    refuses; then `postgres` if it exists, else `nobody`."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(KeyError):
        return pwd.getpwnam("postgres").pw_name
    return "nobody"


def make_base_dir() -> Path:
    """A fresh folder the server user can reach. As root under /tmp (mode 1777), because
    pytest's own tmp_path sits in a 0700 folder of root's that `postgres` cannot enter."""
    parent = "/tmp" if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="pg-", dir=parent))
    base.chmod(0o755)
    return base


class PostgresCluster:
    """One running server owning `base_dir` (data/, server.log, its Unix socket), removed
    by `stop()`. Build it with `PostgresCluster.start()`; not thread-safe."""

    def __init__(self, base_dir: Path, *, bin_dir: Path, durable: bool) -> None:
        self.base_dir = base_dir
        self.bin_dir = bin_dir
        self.durable = durable
        self.user = server_user()
        self.data_dir = base_dir / "data"
        self.log_path = base_dir / "server.log"
        self.port = 0
        self.is_running = False

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return (
            f"<PostgresCluster port={self.port} base_dir={str(self.base_dir)!r} "
            f"durable={self.durable} user={self.user} {state}>"
        )

    @classmethod
    def start(
        cls, base_dir: Path | None = None, *, durable: bool = False, bin_dir: Path | None = None
    ) -> PostgresCluster:
        """initdb + `pg_ctl start -w`; returns once the server accepts connections.
        `base_dir` (default: `make_base_dir()`) must be empty and reachable by the server
        user; the cluster takes it over and `stop()` deletes it. `durable=True` keeps
        PostgreSQL's crash-safe defaults, for tests that restart with `-m immediate`."""
        bin_dir = bin_dir or find_pg_bin()  # before making a folder that would then leak
        cluster = cls(base_dir or make_base_dir(), bin_dir=bin_dir, durable=durable)
        try:
            cluster._initdb()
            cluster._start_on_free_port()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def __enter__(self) -> PostgresCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """CREATE DATABASE (copying `template` if given: it must have no open connection);
        returns its URL."""
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        self._admin(query)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drops it even while clients are connected (WITH FORCE ends their sessions)."""
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def restart_immediate(self) -> None:
        """A crash and a recovery: `pg_ctl restart -m immediate` skips the shutdown
        checkpoint, so what survives is what the WAL made durable. Same port."""
        self._pg_ctl("restart", "-m", "immediate", "-l", str(self.log_path))

    def stop(self) -> None:
        """`pg_ctl stop -m fast`, a kill of the postmaster if that fails, then the folder
        removed. Safe to call twice and on a half-started cluster."""
        if self.data_dir.joinpath("postmaster.pid").exists():
            try:
                self._pg_ctl("stop", "-m", "fast")
            except PostgresError:
                self._kill_postmaster()
        self.is_running = False
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- steps -----------------------------------------------------------------------

    def _initdb(self) -> None:
        if self.user is not None:
            owner = pwd.getpwnam(self.user)
            os.chown(self.base_dir, owner.pw_uid, owner.pw_gid)
        argv = [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "--auth=trust"]
        argv += ["--username=postgres", "--encoding=UTF8", "--no-locale"]
        if not self.durable:
            argv.append("--no-sync")
        self._run(argv, timeout_s=INITDB_TIMEOUT_S)

    def _start_on_free_port(self) -> None:
        conf = self.data_dir / "postgresql.conf"
        original = conf.read_text()
        for attempt in range(1, START_ATTEMPTS + 1):
            self.port = free_port()
            conf.write_text(original + self._settings())
            try:
                self._pg_ctl("start", "-l", str(self.log_path))
            except PostgresCommandError as exc:
                if attempt == START_ATTEMPTS or "could not bind" not in exc.log_tail:
                    raise
                continue
            self.is_running = True
            return

    def _settings(self) -> str:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.base_dir}'",
            "max_connections": str(MAX_CONNECTIONS),
        }
        if not self.durable:
            settings |= FAST_SETTINGS
        return "\n# tests/support/postgres.py\n" + "".join(
            f"{k} = {v}\n" for k, v in settings.items()
        )

    def _admin(self, query: sql.Composed) -> None:
        with psycopg.connect(
            self.url(), autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
        ) as conn:
            conn.execute(query)

    def _pg_ctl(self, action: str, *options: str) -> None:
        argv = [str(self.bin_dir / "pg_ctl"), action, "-D", str(self.data_dir), "-w"]
        argv += ["-t", str(PG_CTL_TIMEOUT_S), *options]
        self._run(argv, timeout_s=PG_CTL_TIMEOUT_S + 10)

    def _run(self, argv: list[str], *, timeout_s: float) -> None:
        """Runs as the server user, in its own process group (killed whole on timeout).
        LC_ALL=C keeps messages in English: the port retry reads "could not bind"."""
        if self.user is not None:
            argv = ["runuser", "-u", self.user, "--", *argv]
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.base_dir,  # a cwd the server user may enter (ours may be /root)
            env={**os.environ, "LC_ALL": "C"},
            start_new_session=True,
        )
        try:
            output, _ = proc.communicate(timeout=timeout_s)
        except BaseException as exc:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            if isinstance(exc, subprocess.TimeoutExpired):
                raise PostgresCommandError(
                    f"{argv} timed out after {timeout_s} s", log_tail=self.log_tail()
                ) from exc
            raise
        if proc.returncode != 0:
            raise PostgresCommandError(
                f"{argv} exited {proc.returncode}:\n{output.strip()}", log_tail=self.log_tail()
            )

    def _kill_postmaster(self) -> None:
        """Last resort: SIGQUIT (immediate shutdown: it stops its children), then SIGKILL to
        the postmaster and whatever children are left (each runs in its own session)."""
        try:
            pid = int(self.data_dir.joinpath("postmaster.pid").read_text().split()[0])
            postmaster = psutil.Process(pid)
            if "postgres" not in postmaster.name():
                return  # the pid was reused: not ours to kill
            family = [postmaster, *postmaster.children(recursive=True)]
            postmaster.send_signal(signal.SIGQUIT)
        except (OSError, ValueError, IndexError, psutil.Error):
            return
        if not _wait_exited(family, timeout_s=5):
            for process in family:
                with contextlib.suppress(psutil.Error):
                    process.kill()
            _wait_exited(family, timeout_s=5)


def _has_exited(process: psutil.Process) -> bool:
    """Gone or a zombie: the daemonized postmaster is init's child, and an init that reaps
    slowly (a second or more in some containers) must not slow down the teardown."""
    try:
        return bool(process.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _wait_exited(processes: list[psutil.Process], *, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not all(_has_exited(p) for p in processes):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
