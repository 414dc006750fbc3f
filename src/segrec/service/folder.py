"""The fold-in of just-stored events, ranked in a process of its own.

Why a process: the event writer folds each acknowledged batch's customers in ahead of their next request
(:func:`~segrec.service.routers.recommend.warm_folds`). In a thread of the serving process that work (~4 ms of
CPU a customer, in a dozen small numpy steps) holds the interpreter lock the event loop needs, so the requests
served beside it wait for it (``docs/benchmarks.md``, issue 13). A child process with its own copy of the
bundle ranks the histories; the serving process only packs the customers' new purchases and unpacks the
answers. The cost is one more copy of the bundle in memory (``SEGREC_FOLD_PROCESS=false`` keeps the fold-in in
a thread instead).

The server starts the child with its bundle; after a reload, the first events to fold in start a new one (a
child serves one bundle, checked by its manifest's hash). Until it has loaded, if it dies or does not answer
in time, the serving process folds in itself, as without it: the child only ever saves time, it never decides
an answer. Requests and answers cross a socket as JSON, not pickle. The child exits when the socket closes
(its parent stopped or was killed).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

logger = logging.getLogger("segrec.service")

RETRY_SECONDS = 60.0
#: Added to the child's nice value: the fold-in is background work, so on a busy machine the kernel runs the
#: requests first (mixed load phase, ad hoc, 3 alternating pairs: POST p99 46/43/46 -> 37/42/39 ms).
NICENESS = 10
Rows = Sequence[tuple[int, Sequence[Any]]]  # (bundle user index or -1, NewPurchase...) as FoldIn.histories takes


def bundle_key(manifest: dict[str, Any]) -> str:
    """One bundle's identity: its manifest (checksums of every file included) hashed."""
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, default=str).encode()).hexdigest()


class FoldProcess:
    """A child process that ranks fold-in histories for one bundle; :meth:`rank` returns None whenever the
    caller must rank them itself. One caller thread at a time (the event writer's folder thread)."""

    def __init__(self, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self.key: str | None = None
        self.ready = False
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._manifest: dict[str, Any] | None = None  # the manifest whose key is ``key``
        self._path: Path | None = None
        self._retry_at: float | None = None  # when a child that failed while serving may be started again

    def rank(self, path: Path | None, manifest: dict[str, Any], rows: Rows,
             k: int) -> list[tuple[list[int], list[float], list[str]]] | None:
        """Each row's top-``k`` discover ranking (item indices, scores, reasons) from the child, or None: not
        loaded yet (it is started here for a new bundle), failed, or too slow."""
        if not self.prepare(path, manifest) or not self._is_ready():
            return None
        request = {"k": k, "rows": [[user, [[p.item, p.lines, p.quantity, p.spending, p.age_days] for p in new]]
                                    for user, new in rows]}
        try:
            self._conn.send_bytes(json.dumps(request).encode())
            if not self._conn.poll(self.timeout):
                raise TimeoutError(f"no answer in {self.timeout} s")
            answer = json.loads(self._conn.recv_bytes())
        except (OSError, EOFError, TimeoutError, ValueError) as exc:
            self._failed(f"{type(exc).__name__}: {exc}", retry=True)
            return None
        if "error" in answer:
            self._failed(answer["error"], retry=True)
            return None
        return [(row["items"], row["scores"], row["reasons"]) for row in answer["rows"]]

    def prepare(self, path: Path | None, manifest: dict[str, Any]) -> bool:
        """Start the child for this bundle unless it runs (or failed) for it already; False: no child for it.
        The server calls it at start-up, so the child loads before the first events arrive."""
        if manifest is not self._manifest:  # the same Served bundle: no need to hash its manifest again
            key = bundle_key(manifest)
            if key != self.key:
                self.close()
                self._path, self._retry_at = path, None
                if path is not None:
                    self._start(path, key)
            self.key, self._manifest = key, manifest
        elif self._conn is None and self._retry_at is not None and time.monotonic() >= self._retry_at:
            self._start(self._path, self.key)  # it died or stalled while serving: a new one, once a minute at most
        return self._conn is not None

    def close(self) -> None:
        """Stop the child (closing the socket is enough; a child that does not go is killed)."""
        process, conn = self._process, self._conn
        self._process = self._conn = None
        self.ready = False
        if conn is not None:
            conn.close()
        if process is not None:
            try:
                process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=2)

    def _start(self, path: Path, key: str) -> None:
        # A new interpreter, not multiprocessing: its spawn would re-run the embedding program's main module,
        # and a fork would copy the server's threads and event loop.
        parent, child = socket.socketpair()
        with child:
            self._process = subprocess.Popen(
                [sys.executable, "-c", f"import sys; from {__name__} import child_main; child_main(sys.argv[1:])",
                 str(child.fileno()), key, str(path)], pass_fds=[child.fileno()], stdin=subprocess.DEVNULL)
        self._conn, self.key, self.ready, self._retry_at = Connection(parent.detach()), key, False, None

    def _is_ready(self) -> bool:
        if self.ready:
            return True
        if self._conn is None:
            return False
        try:
            if not self._conn.poll():
                return False
            hello = json.loads(self._conn.recv_bytes())
        except (OSError, EOFError, ValueError) as exc:
            self._failed(f"{type(exc).__name__}: {exc}")
            return False
        if hello.get("ready") != self.key:
            self._failed(hello.get("error", "the child loaded another bundle"))
            return False
        self.ready = True
        logger.info(json.dumps({"event": "fold_process_ready", "pid": self._process.pid if self._process else None}))
        return True

    def _failed(self, error: str, *, retry: bool = False) -> None:
        """Log, and stop the child. One that could not load this bundle is not started again for it (the next
        bundle starts a new one); one that failed while serving (``retry``) is, after ``RETRY_SECONDS``, so a
        broken child costs one timeout a minute at most, not one per batch."""
        logger.warning(json.dumps({"event": "fold_process_error", "error": error}))
        self.close()
        self._retry_at = time.monotonic() + RETRY_SECONDS if retry else None


def _serve(conn: Connection, key: str, path: str) -> None:
    """The child: load the bundle, say it is ready, then answer requests until the socket closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which closes the socket
    os.nice(NICENESS)
    from threadpoolctl import threadpool_limits

    from ..bundle import load_bundle, read_manifest
    from ..recommend.foldin import FoldIn, NewPurchase
    from ..recommend.hybrid import HybridRecommender

    threadpool_limits(1)  # one core for the child; the other serves requests
    try:
        changed = ValueError(f"the bundle at {path} changed after the server loaded it")
        if bundle_key(read_manifest(Path(path))) != key:
            raise changed  # (before loading it all)
        bundle = load_bundle(path, expected=HybridRecommender)
        if bundle_key(bundle.manifest) != key:
            raise changed
        engine = FoldIn(bundle.recommender)
    except Exception as exc:  # reported to the parent, which folds in itself
        conn.send_bytes(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
        return
    conn.send_bytes(json.dumps({"ready": key}).encode())
    while True:
        try:
            request = json.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        try:
            rows = [(int(user), [NewPurchase(int(i), int(n), float(q), float(s), float(a)) for i, n, q, s, a in new])
                    for user, new in request["rows"]]
            items, scores, reasons = engine.recommend(engine.histories(rows), int(request["k"]), discover=True)
            answer: dict[str, Any] = {"rows": [
                {"items": i.tolist(), "scores": s.tolist(), "reasons": r}
                for i, s, r in zip(items, scores, reasons, strict=True)]}
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        conn.send_bytes(json.dumps(answer).encode())


def child_main(argv: list[str]) -> None:
    """The child's entry point: ``FD KEY PATH`` (the socket's descriptor, the bundle's key and path)."""
    _serve(Connection(int(argv[0])), argv[1], argv[2])
