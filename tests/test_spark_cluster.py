"""``segrec run --engine spark`` on a real Spark standalone cluster, as a user would run it.

A master and two workers (1 core, 1 GiB each) are started on 127.0.0.1 from the installed pyspark
(``bin/spark-class``: the pip package has no ``sbin`` start scripts), the CLI runs in a subprocess with
``--spark-master spark://127.0.0.1:PORT``, and both kinds of process are stopped by their PID afterwards.
Marked ``spark_cluster`` (minutes, not seconds): ``make test-cluster``, which ``.ci/run`` runs after
``make test``. Skipped without pyspark or Java 17.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from process_helpers import free_port, stop_group
from segrec.columns import Columns
from segrec.data.generate import generate_shop
from spark_helpers import java_ok

pytestmark = [pytest.mark.spark, pytest.mark.spark_cluster]
C = Columns
HOST = "127.0.0.1"
START_TIMEOUT = 180.0  # seconds for the master to listen and both workers to register, on a loaded machine


def _master_state(ui_port: int) -> dict:
    with urllib.request.urlopen(f"http://{HOST}:{ui_port}/json/", timeout=5) as response:  # loopback only
        return json.loads(response.read())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    if not java_ok():
        pytest.skip("needs pyspark (pip install segrec[spark]) and Java 17")
    import pyspark

    home = Path(pyspark.__file__).parent
    spark_class = home / "bin" / "spark-class"
    work = tmp_path_factory.mktemp("spark-cluster")
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": HOST, "SPARK_LOG_DIR": str(work),
           "SPARK_WORKER_DIR": str(work / "workers")}
    port, ui = free_port(), free_port()
    url = f"spark://{HOST}:{port}"
    processes: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> None:
        log = (work / f"{name}.log").open("w")
        processes.append(subprocess.Popen([str(spark_class), *args], stdout=log, stderr=subprocess.STDOUT, env=env,
                                          start_new_session=True))

    try:
        start("master", "org.apache.spark.deploy.master.Master", "--host", HOST, "--port", str(port),
              "--webui-port", str(ui))
        for i in range(2):
            start(f"worker{i}", "org.apache.spark.deploy.worker.Worker", url, "--cores", "1", "--memory", "1g",
                  "--host", HOST, "--webui-port", str(free_port()), "--work-dir", str(work / f"worker{i}"))
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if _master_state(ui).get("aliveworkers") == 2:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                logs = {p.name: p.read_text()[-2000:] for p in work.glob("*.log")}
                pytest.fail(f"the standalone cluster did not start in {START_TIMEOUT:.0f} s: {logs}")
            time.sleep(1.0)
        yield {"url": url, "ui": ui, "processes": processes}
    finally:
        for process in reversed(processes):
            stop_group(process)


def test_segrec_run_on_a_standalone_cluster(cluster: dict, tmp_path: Path) -> None:
    from segrec.bundle import load_bundle

    shop = generate_shop(customers=300, products=50, months=3, seed=21).events
    shop[C.Quantity] = np.where(np.arange(len(shop)) < 5, 0, shop[C.Quantity])  # five rows to reject
    source, out = tmp_path / "shop.parquet", tmp_path / "run"
    shop.to_parquet(source, index=False)
    segrec = Path(sys.executable).parent / "segrec"
    command = [str(segrec), "run", str(source), "--out", str(out), "--segments-k", "3", "-k", "5",
               "--engine", "spark", "--spark-master", cluster["url"],
               "--spark-conf", "spark.executor.memory=700m", "--spark-conf", "spark.sql.shuffle.partitions=4",
               "--spark-conf", "spark.ui.enabled=false"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "SPARK_LOCAL_IP": HOST}, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    state = _master_state(cluster["ui"])  # the run was an application of this master, on its two workers
    apps = state.get("completedapps", []) + state.get("activeapps", [])
    assert any(app.get("name") == "segrec" for app in apps), apps
    assert all(p.poll() is None for p in cluster["processes"])  # the cluster survived the run

    validation = json.loads((out / "validation.json").read_text())
    assert validation["rows_rejected"] == 5 and validation["rejected_by_reason"] == {"nonpositive_quantity": 5}
    assert len(pd.read_parquet(out / "rejects")) == 5
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert [m["name"] for m in evaluation["models"]] == ["als", "popularity"]
    assert json.loads((out / "segmentation.json").read_text())["stability"]["bootstrap"]["runs"]
    assert (out / "report.html").is_file() and "was not evaluated" not in (out / "report.html").read_text()
    # one answer: the file the executors wrote is what the bundle serves
    bundle = load_bundle(out / "bundle")
    recs = pd.read_parquet(out / "recommendations.parquet").sort_values([C.User, C.Rank], ignore_index=True)
    model = bundle.recommender
    served = model.recommend(model.dataset_.users.external_ids, 5).sort_values([C.User, C.Rank], ignore_index=True)
    assert recs[C.Item].tolist() == served[C.Item].tolist()
    np.testing.assert_allclose(recs[C.Score], served[C.Score], rtol=1e-5, atol=1e-6)
    users = pd.read_parquet(out / "id_maps" / "users.parquet").sort_values("uidx")
    assert users[C.User].tolist() == [str(u) for u in model.dataset_.users.external_ids]
