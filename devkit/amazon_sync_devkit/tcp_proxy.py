"""A TCP proxy on 127.0.0.1 that can stop forwarding without closing anything: a database whose packets
are dropped silently, as after a failover, for the timeout tests."""

from __future__ import annotations

import select
import socket
import threading
import time


class FreezableProxy:
    """``with FreezableProxy(port) as proxy:`` forwards ``proxy.port`` to ``target_port``;
    ``proxy.frozen = True`` holds every byte in both directions until it is set back to False."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.frozen = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> FreezableProxy:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._listener.close()
        for sock in self._sockets:
            sock.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                thread = threading.Thread(target=self._pump, args=(source, sink), daemon=True)
                thread.start()
                self._threads.append(thread)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([source], [], [], 0.05)
                if self.frozen:
                    time.sleep(0.02)  # nothing is read: the bytes wait in the kernel, as if lost on the way
                    continue
                if not ready:
                    continue
                data = source.recv(65536)
                if not data:
                    sink.close()
                    return
                sink.sendall(data)
            except OSError:
                return
