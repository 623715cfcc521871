"""A throwaway MariaDB server in a temporary directory, for tests, the demo and benchmarks.

It never touches a server someone else runs: its own datadir, socket and port, stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pymysql

from amazon_sync.errors import SyncError
from amazon_sync_devkit.local_processes import free_port


def _find_binary(*names: str) -> str:
    for name in names:
        for folder in ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"):
            candidate = Path(folder) / name
            if candidate.exists():
                return str(candidate)
        found = shutil.which(name)
        if found:
            return found
    raise SyncError(
        f"{names[0]} not found: install MariaDB's server package (`apt-get install mariadb-server`), "
        "or run `make setup`, which does it when you are root"
    )


class ThrowawayMariaDB:
    """``with ThrowawayMariaDB() as server:`` gives a running server with root and an empty password."""

    def __init__(self, *, buffer_pool: str = "256M", base_dir: str | None = None, tls: bool = False,
                 binary_log: bool = False) -> None:
        self.buffer_pool = buffer_pool
        self.base_dir = base_dir
        self.tls = tls
        self.ca_file: str | None = None  # with tls: the CA that signed the server's certificate for 127.0.0.1
        self.binary_log = binary_log  # as RDS with backups on: trigger creation then needs SUPER or a parameter
        self.port = 0
        self.root = ""
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> str:
        return os.path.join(self.root, "mysqld.sock")

    def start(self) -> ThrowawayMariaDB:
        server = _find_binary("mariadbd", "mysqld")
        installer = _find_binary("mariadb-install-db", "mysql_install_db")
        self.root = tempfile.mkdtemp(prefix="amazon-sync-mariadb-", dir=self.base_dir)
        datadir = os.path.join(self.root, "data")
        # Temporary files of their own: two installers bootstrapping at once in the default /tmp fail now
        # and then ("Unknown table 'mysql.tmp_user_sys'", 1 in 6 pairs here; none in 12 with their own).
        tmpdir = os.path.join(self.root, "tmp")
        os.mkdir(tmpdir)
        installed = subprocess.run(
            [installer, "--no-defaults", f"--datadir={datadir}", f"--tmpdir={tmpdir}", "--user=root",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        if installed.returncode != 0:
            raise SyncError(f"{installer} failed ({installed.returncode}): {installed.stderr.strip()[-2000:]}")
        self.port = free_port()
        tls_options: list[str] = []
        if self.tls:
            from amazon_sync_devkit.tls import make_server_certificates

            certificates = make_server_certificates(self.root)
            self.ca_file = certificates.ca_file
            tls_options = [f"--ssl-ca={certificates.ca_file}", f"--ssl-cert={certificates.cert_file}",
                           f"--ssl-key={certificates.key_file}"]
        log_path = os.path.join(self.root, "error.log")
        self._process = subprocess.Popen(
            [server, "--no-defaults", f"--datadir={datadir}", f"--socket={self.socket_path}",
             f"--port={self.port}", "--bind-address=127.0.0.1", "--user=root", f"--tmpdir={tmpdir}",
             f"--log-bin={os.path.join(self.root, 'binlog')}" if self.binary_log else "--skip-log-bin",
             f"--innodb-buffer-pool-size={self.buffer_pool}", "--innodb-flush-log-at-trx-commit=2",
             "--innodb-doublewrite=0", "--skip-name-resolve", f"--log-error={log_path}",
             f"--pid-file={os.path.join(self.root, 'mysqld.pid')}", "--max-connections=200",
             "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci", *tls_options],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise SyncError(f"mariadbd exited at start-up: {Path(log_path).read_text()[-2000:]}")
            try:
                pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="").close()
                return self
            except pymysql.err.OperationalError:
                time.sleep(0.05)
        self.stop()
        raise SyncError("mariadbd did not accept connections within 30 s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def root_connection(self, database: str | None = None) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="",
                               database=database, autocommit=True, charset="utf8mb4")

    def __enter__(self) -> ThrowawayMariaDB:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
