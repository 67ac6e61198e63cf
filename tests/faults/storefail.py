"""File systems that fail on cue, for the store-failure tests: a small tmpfs that can be filled or made
read-only (root only: `mount -t tmpfs -o size=`), and a private PostgreSQL server that can be stopped."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


class SmallDisk:
    """A `size_kb` tmpfs at `path`: `fill()` takes every free byte, `free()` gives them back, `read_only()`
    and `writable()` remount it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._filler = path / "filler"

    def fill(self) -> None:
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            for size in (65536, 4096, 1):  # big pieces, then the last page, then the last bytes
                with contextlib.suppress(OSError):
                    while os.write(fd, b"\0" * size):
                        pass
        finally:
            os.close(fd)

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)

    def read_only(self) -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True)

    def writable(self) -> None:
        subprocess.run(["mount", "-o", "remount,rw", str(self.path)], check=True)


@contextlib.contextmanager
def small_disk(tmp_path: Path, size_kb: int = 4096) -> Iterator[SmallDisk]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a size-capped tmpfs")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield SmallDisk(mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """A PostgreSQL server of this test's own (initdb in a temp dir, run as the `postgres` user), so it may
    be stopped and started again; never the machine's server on 5432."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "pgdata"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._bin = _pg_bin()

    def _as_postgres(self, *args: str) -> None:
        cmd = ["runuser", "-u", "postgres", "--", str(self._bin / args[0]), *args[1:]]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.root, "postgres")
        self._as_postgres("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off"
        opts += f" -c unix_socket_directories={self.root}"
        self._as_postgres(
            "pg_ctl", "-D", str(self.data), "-o", opts, "-w", "-l", str(self.root / "log"), "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


def _pg_bin() -> Path:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    if found is None:
        pytest.skip("no initdb on this machine")
    return Path(found).parent


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root (runuser) to run a private PostgreSQL as the postgres user")
    # Not under pytest's tmp_path: its parents are root-only, and the server runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="unhardcoded-pg-"))
    root.chmod(0o755)
    pg = PrivatePostgres(root / "pg")
    try:
        pg.init()
        pg.start()
    except (subprocess.CalledProcessError, OSError) as e:
        pytest.skip(f"cannot start a private PostgreSQL here: {e}")
    try:
        yield pg
    finally:
        if pg.running():
            with contextlib.suppress(subprocess.CalledProcessError):
                pg.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
