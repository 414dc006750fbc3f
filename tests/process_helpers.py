"""Stopping a process a test started in its own session (``start_new_session=True``): the whole group, so
children (uvicorn workers, Spark daemons) go with it."""

from __future__ import annotations

import os
import signal
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
