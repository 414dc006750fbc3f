"""Shared fixtures: small canonical shops, the Online Retail file when present, and a throw-away PostgreSQL server."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from process_helpers import free_port
from segrec.columns import Columns

C = Columns
# The API's fold-in process (SEGREC_FOLD_PROCESS, on by default) costs every app with an event store a few
# seconds of CPU to start; the tests about it (test_events.py, test_events_live.py) turn it on.
os.environ.setdefault("SEGREC_FOLD_PROCESS", "false")
REPO = Path(__file__).resolve().parents[1]
ONLINE_RETAIL = REPO.parent / "shared" / "data" / "online_retail.parquet"

# Seed-style human column names, as a shop export would spell them.
HUMAN_NAMES = {
    C.User: "User ID", C.Item: "Product ID", C.ItemName: "Product Name", C.Category: "Category",
    C.Price: "Price", C.Date: "Purchase Date", C.Quantity: "Quantity", C.Spending: "Total Spending",
    C.Clicks: "Clicks", C.TimeSpent: "Time Spent", C.AbandonedCart: "Abandoned Cart",
    C.Engagement: "Engagement Score", C.Age: "Age", C.Gender: "Gender", C.Location: "Location", C.Income: "Income",
}


@pytest.fixture
def shop_frame() -> pd.DataFrame:
    """Six good purchase lines with seed-style column names, every value as text (like a CSV export)."""
    rows = [
        ("17850", "P1", "Mug", "Home", "3.50", "2024-01-02 10:00:00", "2", "7.0", "12", "4", "False", "3.0", "34", "F", "London", "52000"),
        ("17850", "P2", "Tea", "Food", "4.00", "2024-01-05 11:30:00", "1", "4.0", "3", "2", "True", "1.5", "34", "F", "London", "52000"),
        ("13047", "P1", "Mug", "Home", "3.50", "2024-02-01 09:15:00", "1", "3.5", "8", "0", "False", "", "51", "M", "Leeds", "61000"),
        ("13047", "P3", "Book", "Books", "12.00", "2024-02-03 16:45:00", "3", "36.0", "20", "10", "False", "2.0", "51", "M", "Leeds", "61000"),
        ("12583", "P2", "Tea", "Food", "4.00", "2024-03-10 08:00:00", "5", "20.0", "", "", "", "", "", "X", "Paris", ""),
        ("12583", "P4", "Lamp", "Home", "25.00", "2024-03-11 19:20:00", "1", "25.0", "40", "5", "True", "8.0", "29", "X", "Paris", "47000"),
    ]
    return pd.DataFrame(rows, columns=list(HUMAN_NAMES.values()), dtype="string")


@pytest.fixture
def shop_csv(tmp_path: Path, shop_frame: pd.DataFrame) -> Path:
    """``shop_frame`` written as a CSV file."""
    path = tmp_path / "shop.csv"
    shop_frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def online_retail_path() -> Path:
    """The UCI Online Retail Parquet file in ../shared/data (skipped when absent)."""
    if not ONLINE_RETAIL.exists():
        pytest.skip(f"Online Retail data not found at {ONLINE_RETAIL}")
    return ONLINE_RETAIL


# ------------------------------------------------------------------------------------------------ PostgreSQL


def _pg_bin() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_user() -> tuple[list[str], str | None]:
    """PostgreSQL refuses to run as root: run it as 'postgres' (else 'nobody') through runuser."""
    if os.geteuid() != 0:
        return [], None
    for user in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(user)
            if shutil.which("runuser"):
                return ["runuser", "-u", user, "--"], user
    raise RuntimeError("running as root, and no 'postgres'/'nobody' user or no runuser to drop privileges")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL of a PostgreSQL server started for this session in a temporary directory.

    initdb + pg_ctl from PATH or /usr/lib/postgresql/*/bin; trust auth on 127.0.0.1 at a free port, socket in
    the temporary directory. As root, the server runs as 'postgres' (or 'nobody') via runuser, and the
    directory (made with mkdtemp under /tmp, not pytest's root-only tmp) is chowned to that user.
    Skipped with the reason when no server binary exists or the server does not start.
    """
    bin_dir = _pg_bin()
    if bin_dir is None or not (bin_dir / "pg_ctl").exists():
        pytest.skip("no PostgreSQL server binaries (initdb/pg_ctl) on PATH or in /usr/lib/postgresql/*/bin")
    base = Path(tempfile.mkdtemp(prefix="segrec-pg-"))
    data, port = base / "data", free_port()
    try:
        prefix, user = _as_user()
        if user:
            shutil.chown(base, user)
        run = dict(check=True, capture_output=True, timeout=60)
        subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "segrec",
                        "--no-sync", "-E", "UTF8"], **run)
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off"
        subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                        str(base / "log"), "-w", "start"], **run)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(base, ignore_errors=True)
        detail = getattr(exc, "stderr", b"") or b""
        pytest.skip(f"cannot start PostgreSQL: {exc} {detail.decode(errors='replace')[:200]}")
    try:
        yield f"postgresql+psycopg://segrec@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)
