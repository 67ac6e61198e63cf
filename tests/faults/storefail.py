"""File systems that fail on cue, for the store-failure tests: a small tmpfs (or a loop-mounted ext4 image)
that can be filled or made read-only (root only), and a private PostgreSQL server that can be stopped.

Read-only while the gateway runs: `mount -o remount,ro` answers "mount point is busy" as long as any file
on the mount is open for writing (the kernel's writer count, checked for bind mounts too), and SQLite
holds its database and WAL open for as long as the store is open. File modes do not stop root. What does:
the immutable attribute (`chattr +i`) on ext4, which refuses every write even through a descriptor opened
before it was set (SQLite sees EPERM: "disk I/O error"), and `chattr -i` gives the files back. tmpfs takes
the attribute but does not enforce it on open descriptors, hence ext4 on a loop device for that case."""

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
        """The files and the directory immutable (ext4 only): no write, no new file, even for root."""
        subprocess.run(["chattr", "+i", *self._files(), str(self.path)], check=True)

    def writable(self) -> None:
        subprocess.run(["chattr", "-i", *self._files(), str(self.path)], check=True)

    def _files(self) -> list[str]:
        # Not the WAL index (-shm): SQLite maps it into memory, and a store into a mapped page of an
        # immutable file is a SIGBUS, not an error. The database and its WAL are what holds receipts.
        return sorted(str(p) for p in self.path.iterdir() if p.is_file() and not p.name.endswith("-shm"))


@contextlib.contextmanager
def small_disk(tmp_path: Path, size_kb: int = 4096, *, ext4: bool = False) -> Iterator[SmallDisk]:
    """A size-capped tmpfs, or (`ext4`) an ext4 image on a loop device, mounted for this test."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    kind = "an ext4 loop mount" if ext4 else "a size-capped tmpfs"
    tools = ("mount", "mkfs.ext4", "chattr") if ext4 else ("mount",)
    if os.geteuid() != 0 or not all(shutil.which(t) for t in tools):
        pytest.skip(f"needs root and {', '.join(tools)} to make {kind}")
    if ext4:
        image = tmp_path / "disk.img"
        with image.open("wb") as f:
            f.truncate(size_kb * 1024)
        made = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True)
        cmd = ["mount", "-o", "loop", str(image), str(mnt)]
    else:
        made = subprocess.CompletedProcess([], 0)
        cmd = ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mnt)]
    done = made if made.returncode else subprocess.run(cmd, capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make {kind} here: {done.stderr.decode().strip()}")
    disk = SmallDisk(mnt)
    try:
        yield disk
    finally:
        if ext4:
            with contextlib.suppress(subprocess.CalledProcessError, OSError):
                disk.writable()  # an immutable file would outlive the test in the image
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
