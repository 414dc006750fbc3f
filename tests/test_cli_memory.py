"""The batch commands keep freed memory for reuse (glibc, Arrow's pool); the API server does not."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pyarrow as pa
import pytest
from typer.testing import CliRunner

import segrec.cli as cli
from segrec.cli import _memory

_CYCLES = """
import importlib.util, resource, sys
import numpy as np
spec = importlib.util.spec_from_file_location("_memory", sys.argv[2])  # not through segrec.cli: 2 s of imports
memory = importlib.util.module_from_spec(spec)
spec.loader.exec_module(memory)
if sys.argv[1] == "keep":
    assert memory.keep_freed_memory()
np.ones(16 << 20, np.float32)  # 64 MB, freed at once
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    np.ones(16 << 20, np.float32)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _CYCLES, mode, _memory.__file__], capture_output=True, text=True,
                         check=True)
    return int(out.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
def test_a_freed_large_block_is_reused_without_fresh_pages() -> None:
    fresh, kept = _page_faults("default"), _page_faults("keep")
    assert kept * 4 < fresh, (kept, fresh)  # default: every 64 MB array is mapped and zero-filled again


_POOL = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("_memory", sys.argv[1])
memory = importlib.util.module_from_spec(spec)
spec.loader.exec_module(memory)
memory.keep_freed_memory()
import pyarrow as pa
print(pa.default_memory_pool().backend_name)
"""


@pytest.mark.skipif("jemalloc" not in pa.supported_memory_backends(), reason="this pyarrow has no jemalloc")
@pytest.mark.parametrize(("chosen", "pool"), [(None, "jemalloc"), ("system", "system")])
def test_arrow_takes_jemalloc_unless_the_user_chose_a_pool(chosen: str | None, pool: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if chosen is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = chosen
    out = subprocess.run([sys.executable, "-c", _POOL, _memory.__file__], capture_output=True, text=True,
                         check=True, env=env)
    assert out.stdout.strip() == pool


@pytest.mark.parametrize(("command", "keeps"), [("validate", True), ("run", True), ("serve", False)])
def test_every_command_but_the_server_keeps_freed_memory(monkeypatch: pytest.MonkeyPatch, command: str,
                                                       keeps: bool) -> None:
    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(command))
    result = CliRunner().invoke(cli.app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert bool(calls) is keeps
