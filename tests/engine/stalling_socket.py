"""A unix-socket relay in front of the local libvirt daemon that can stop relaying on demand.

A host that stops answering (a hung libvirtd, an SSH link gone dark) is what bounded operations
are for, and this is how the tests make one without touching the real daemon: libvirt clients
connect to `qemu+unix:///system?socket=<path>`, the relay passes bytes both ways to
/run/libvirt/libvirt-sock, and `stall()` makes it stop passing anything (connections stay open,
nothing is answered), exactly what a client sees of a daemon stopped with SIGSTOP. Loopback only:
nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
from pathlib import Path

LIBVIRT_SOCKET = "/run/libvirt/libvirt-sock"


class StallingSocket:
    """Relays `path` to the libvirt daemon's socket until `stall()`, again after `resume()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.uri = f"qemu+unix:///system?socket={path}"
        self._running = threading.Event()
        self._running.set()
        self._closed = threading.Event()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        os.chmod(path, 0o777)
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def stall(self) -> None:
        """From now on nothing is relayed, on open connections and new ones alike."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def close(self) -> None:
        self._closed.set()
        self._running.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with contextlib.suppress(OSError):
            self.path.unlink()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            thread = threading.Thread(target=self._relay, args=(client,), daemon=True)
            thread.start()

    def _relay(self, client: socket.socket) -> None:
        daemon = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            daemon.connect(LIBVIRT_SOCKET)
            peers = {client: daemon, daemon: client}
            while not self._closed.is_set():
                if not self._running.is_set():
                    self._running.wait(0.2)
                    continue
                readable, _, _ = select.select(list(peers), [], [], 0.2)
                for source in readable:
                    if not self._running.is_set():
                        break
                    data = source.recv(65536)
                    if not data:
                        return
                    peers[source].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            daemon.close()
