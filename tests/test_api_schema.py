"""Property-based test of the API against its own OpenAPI schema (schemathesis): whatever a client sends
within (or just outside) the documented schema, the server answers with a documented status and body, never
a 5xx.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from bundle_helpers import save_trained, train_small
from segrec.bundle import load_bundle
from segrec.service import Served, Settings, create_app

schemathesis = pytest.importorskip("schemathesis")

# The schema is read at collection time; the bundle is swapped in by the fixture below (no lifespan needed).
app = create_app(Settings(bundle=None, admin_token="schema-test-token", access_log=False))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module", autouse=True)
def served_bundle(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = save_trained(train_small(customers=200, products=60), tmp_path_factory.mktemp("schema") / "bundle")
    app.state.holder.swap(Served.build(load_bundle(Path(path)), precompute_k=20))  # as served by default


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    case.call_and_validate()
