"""Starting local services for the demo, the benchmarks and the tests: free ports, readiness."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx

from amazon_sync.errors import SyncError


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_http(url: str, process: subprocess.Popen[bytes], name: str, timeout: float = 30) -> None:
    """Until ``url`` answers at all; fails at once if the process that should serve it has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SyncError(f"{name} exited at start-up (exit code {process.returncode})")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SyncError(f"{name} did not answer at {url} within {timeout:.0f} s")
