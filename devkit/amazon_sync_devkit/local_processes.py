"""Starting local services for the demo and the benchmarks: moto_server and the SP-API simulator as
processes of their own (as AWS and Amazon are elsewhere), free ports, readiness, and a stop that
always happens."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from amazon_sync.errors import SyncError
from amazon_sync_devkit.aws_fixtures import aws_environment

BIN = Path(sys.executable).parent


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


class LocalProcesses:
    """The processes a local run starts, each in a session of its own, listening on 127.0.0.1 only; all
    stopped when the block ends (SIGTERM, then SIGKILL), also on error or Ctrl-C. Their output goes to
    ``log_dir/<name>.log``, or nowhere."""

    def __init__(self, log_dir: Path | None = None) -> None:
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    def __enter__(self) -> LocalProcesses:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def start_http(self, name: str, command: list[str], ready_path: str) -> str:
        """Run ``command`` (``{port}`` in it becomes a free port) until it answers at ``ready_path``;
        returns its base URL."""
        port = free_port()
        output: IO[bytes] | int = subprocess.DEVNULL
        if self.log_dir is not None:
            output = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 (closed in stop())
            self._logs.append(output)
        process = subprocess.Popen([part.replace("{port}", str(port)) for part in command],
                                   stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_for_http(url + ready_path, process, name)
        return url

    def moto_server(self) -> str:
        """moto_server for S3, DynamoDB, SQS and Secrets Manager; this process's AWS clients now use it."""
        url = self.start_http("moto", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", "{port}"], "")
        os.environ.update(aws_environment(url))
        return url

    def simulator(self, *arguments: str) -> str:
        """The SP-API simulator (``amazon-sync simulator`` with ``arguments``)."""
        return self.start_http("simulator", [str(BIN / "amazon-sync"), "simulator", "--port", "{port}", *arguments],
                               "/_simulator/stats")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for log in self._logs:
            log.close()
        self.processes, self._logs = [], []
