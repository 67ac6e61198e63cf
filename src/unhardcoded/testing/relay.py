"""A TCP relay on 127.0.0.1 in front of a fake provider, that breaks connections on cue.

The faults an HTTP fake cannot play from inside its own server: a reset at any byte of the answer, a stall
before the first byte or between two chunks, an answer cut after N bytes. Each accepted connection takes
the next cued `Fault` (FIFO; none left: it relays faithfully), so a test cues exactly the connection it
means to break. `stalled_port()` is the one fault before any relay: a port whose accept queue is full, so a
TCP connect to it hangs (the kernel drops the SYN) — the connect timeout, on its own.

Threads, not asyncio: the relay serves the gateway's event loop and must never wait on it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

Kind = Literal["pass", "reset", "stall", "close"]


@dataclass(frozen=True, slots=True)
class Fault:
    """What one connection does once `after` bytes of the answer reached the client.

    `reset`: an RST (SO_LINGER 0); `close`: a clean FIN (the answer is simply cut); `stall`: nothing more,
    the connection stays open until the relay stops. `after=0` with `stall` is a stall before the first byte.
    """

    kind: Kind = "pass"
    after: int = 0


def _rst(sock: socket.socket) -> None:
    # Linger on with a zero timeout: the last close sends RST instead of FIN. SHUT_RD first wakes the other
    # pump's recv() on this socket (sends nothing); without it that call keeps the socket alive past close().
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
    with contextlib.suppress(OSError):
        sock.close()


class Relay:
    """`Relay(port_of_fake).start()`; `relay.url` is where the gateway's base_url points; `stop()` ends it."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self.accepted = 0  # connections accepted so far (tests read it to see a pool being reused)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def cue(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def start(self) -> Relay:
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):  # wakes the thread blocked in accept(); close() alone does not
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            socks, self._open = list(self._open), set()
        for s in socks:
            _rst(s)
        for t in self._threads:
            t.join(1)

    def _spawn(self, target: object, *args: object) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(t)
        t.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                fault = self._faults.popleft() if self._faults else Fault()
                self.accepted += 1
            self._spawn(self._serve, client, fault)

    def _track(self, *socks: socket.socket) -> None:
        with self._lock:
            self._open.update(socks)

    def _serve(self, client: socket.socket, fault: Fault) -> None:
        self._track(client)
        if fault.kind == "reset" and fault.after == 0:
            _rst(client)
            return
        try:
            upstream = socket.create_connection(self._target, timeout=5)
        except OSError:
            _rst(client)
            return
        upstream.settimeout(None)
        self._track(upstream)
        self._spawn(self._pump_requests, client, upstream)
        self._pump_answer(upstream, client, fault)

    def _pump_requests(self, client: socket.socket, upstream: socket.socket) -> None:
        """Client to upstream, untouched."""
        try:
            while data := client.recv(65536):
                upstream.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)

    def _pump_answer(self, upstream: socket.socket, client: socket.socket, fault: Fault) -> None:
        """Upstream to client, until `fault.after` bytes went through; then the fault."""
        sent = 0
        try:
            while True:
                if fault.kind != "pass" and sent >= fault.after:
                    break
                data = upstream.recv(65536)
                if not data:
                    with contextlib.suppress(OSError):
                        client.shutdown(socket.SHUT_WR)
                    upstream.close()
                    return
                if fault.kind != "pass":
                    data = data[: fault.after - sent]
                client.sendall(data)
                sent += len(data)
        except OSError:
            _rst(client)
            return
        if fault.kind == "reset":
            _rst(client)
            _rst(upstream)
        elif fault.kind == "close":
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                client.close()
            _rst(upstream)
        else:  # stall: hold both ends open until the relay stops
            self._stop.wait()


@contextlib.contextmanager
def stalled_port() -> Iterator[int]:
    """A port on 127.0.0.1 that never completes a TCP handshake: its accept queue is full and never drained,
    so Linux drops further SYNs and a client's connect hangs until its own timeout."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):  # backlog 0 still queues one; two more make sure the queue is full
            s = socket.socket()
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.connect(("127.0.0.1", port))
            fillers.append(s)
        yield port
    finally:
        for s in fillers:
            s.close()
        listener.close()
