"""Processes the tests start: a free port on the loopback for them, and stopping one started in its own
session (``start_new_session=True``) with its whole group, so children (uvicorn workers, Spark daemons) go
with it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess


def stop_group(process: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM the process group led by ``process``, SIGKILL it if it lingers past ``timeout`` seconds."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
