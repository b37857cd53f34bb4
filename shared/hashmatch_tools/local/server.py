"""moto's server mode in a child process: the local AWS endpoint, real HTTP on 127.0.0.1, behind the policy gate (policy_gate.py)."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ACCOUNT_ID = "123456789012"  # moto's default account: every local resource's ARN names it


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _end_with_parent() -> None:
    """In the child: have Linux send SIGTERM when the parent dies, so no server outlives its stack."""
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class MotoServer:
    """moto's server mode in a child process: real HTTP on 127.0.0.1, its own interpreter and GIL, the policy gate in front."""

    def __init__(self, port: int | None = None, log_path: Path | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path) if log_path else Path(tempfile.gettempdir()) / f"hashmatch-moto-{self.port}.log"
        self._process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "MotoServer":
        log = open(self.log_path, "wb")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "hashmatch_tools.local.gated_server", "-H", "127.0.0.1", "-p", str(self.port), "--account", ACCOUNT_ID],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_end_with_parent if sys.platform == "linux" else None,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self._process.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto_server did not answer on {self.url} within {timeout:.0f} s")

    def gate(self, registered: dict) -> dict:
        """Register identities and policies with the policy gate (policy_gate.PolicyGate._control)."""
        import json

        request = urllib.request.Request(f"{self.url}/_hashmatch/gate/register", data=json.dumps(registered).encode(), method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:  # nosec B310: the local server's own http URL
            return json.loads(answer.read())

    def refusals(self) -> list[dict]:
        """What the policy gate refused so far (who, what, on what, and which statement)."""
        import json

        with urllib.request.urlopen(f"{self.url}/_hashmatch/gate/refusals", timeout=10) as answer:  # nosec B310: the local server's own http URL
            return json.loads(answer.read())

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
