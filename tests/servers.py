"""Real servers the tests start on 127.0.0.1 (and always stop)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MlflowServer:
    """A real tracking server with its own SQLite store and artifact folder, started in the background."""

    def __init__(self, home: Path):
        self.home = home
        self.uri = f"http://127.0.0.1:{_free_port()}"
        self._log = open(home / "server.log", "w")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", self.uri.rsplit(":", 1)[1],
             "--workers", "1", "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
             "--artifacts-destination", str(home / "artifacts")],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, cwd=home)

    def wait_ready(self, timeout: float = 180) -> str:
        deadline = time.time() + timeout
        while True:
            try:
                if requests.get(f"{self.uri}/health", timeout=2).status_code == 200:
                    return self.uri
            except requests.RequestException:  # not listening yet, or still starting up
                pass
            if self._process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"mlflow server did not start:\n{(self.home / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(timeout=10)  # uvicorn waits for idle keep-alive clients; do not wait for long
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        self._log.close()
