"""The customer endpoints behind the dashboard: a customer's own figures, segment members (sorted, paged), the
CSV exports, the cold-start choices; and what the API says ``score`` means."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from browser_helpers import PipelineRun, pipeline_run
from segrec.bundle import load_bundle
from segrec.columns import Columns as C
from segrec.service import Served, Settings, create_app
from segrec.service.schemas import SCORE_MEANING


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> PipelineRun:
    return pipeline_run(tmp_path_factory)


@pytest.fixture(scope="module")
def client(run: PipelineRun) -> Iterator[TestClient]:
    app = create_app(Settings(bundle=run.bundle, access_log=False), served=Served.build(load_bundle(run.bundle)))
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def segments(run: PipelineRun) -> pd.DataFrame:
    return pd.read_parquet(run.out / "segments.parquet").astype({C.User: str}).set_index(C.User)


def test_profile_gives_the_customers_own_figures_beside_the_segment(client: TestClient, run: PipelineRun,
                                                                   segments: pd.DataFrame) -> None:
    user = segments.index[3]
    row = segments.loc[user]
    profile = client.get(f"/v1/users/{user}/profile").json()
    assert profile["segment"] == row[C.Segment] and profile["segment_name"] == row[C.SegmentName]
    assert profile["figures"][C.Spending] == pytest.approx(row[C.Spending])
    assert profile["figures"][C.Frequency] == row[C.Frequency] and profile["figures"][C.RFMGroup] == row[C.RFMGroup]
    members = segments[segments[C.Segment] == row[C.Segment]]
    assert profile["segment_medians"][C.Recency] == pytest.approx(members[C.Recency].median())

    bought = run.events[run.events[C.User] == user]
    last = bought.groupby(C.Item)[C.Date].max()
    days = [p["days_before_end"] for p in profile["last_purchases"]]
    assert days == sorted(days) and len(days) == min(8, len(last))
    newest = profile["last_purchases"][0]
    assert last[newest["product_id"]] == last.max()
    assert newest["times"] == (bought[C.Item] == newest["product_id"]).sum()


def test_unknown_and_slashed_ids_are_404_as_json(client: TestClient) -> None:
    for path in ("/v1/users/nobody/profile", "/v1/users/a%2Fb/profile", "/v1/users/a/b/profile"):
        answer = client.get(path)
        assert answer.status_code == 404 and "no customer" in answer.json()["detail"], path
    assert "'a/b'" in client.get("/v1/users/a/b/profile").json()["detail"]


def test_segment_members_are_sorted_and_paged(client: TestClient, segments: pd.DataFrame) -> None:
    segment = int(segments[C.Segment].iloc[0])
    members = segments[segments[C.Segment] == segment]
    page = client.get(f"/v1/segments/{segment}/customers", params={"sort": "frequency", "order": "asc",
                                                                    "limit": 5, "offset": 2}).json()
    assert page["total"] == len(members)
    expected = members.sort_values(C.Frequency, kind="stable").index[2:7].tolist()
    assert [c[C.User] for c in page["customers"]] == expected
    assert set(page["customers"][0]) >= {C.User, C.Spending, C.Frequency, C.Recency, C.RFMGroup}
    assert client.get(f"/v1/segments/{segment}/customers", params={"sort": "password"}).status_code == 422
    assert client.get(f"/v1/segments/{segment}/customers", params={"limit": 501}).status_code == 422
    assert client.get("/v1/segments/999/customers").status_code == 404


def test_csv_exports_hold_every_member_and_their_recommendations(client: TestClient, segments: pd.DataFrame) -> None:
    segment = int(segments[C.Segment].iloc[0])
    members = segments[segments[C.Segment] == segment]
    answer = client.get(f"/v1/segments/{segment}/customers.csv")
    assert answer.headers["content-type"].startswith("text/csv")
    assert f'filename="segment-{segment}-customers.csv"' in answer.headers["content-disposition"]
    table = pd.read_csv(io.StringIO(answer.text), dtype={C.User: str})
    assert sorted(table[C.User]) == sorted(members.index) and table[C.Spending].is_monotonic_decreasing

    recs = pd.read_csv(io.StringIO(client.get(f"/v1/segments/{segment}/recommendations.csv",
                                              params={"k": 3, "mode": "buy-again"}).text), dtype={C.User: str})
    assert list(recs.columns) == list(C.Recommendations)
    assert set(recs[C.User]) == set(members.index) and recs.groupby(C.User).size().max() == 3
    user = recs[C.User].iloc[0]
    api = client.get(f"/v1/users/{user}/recommendations", params={"k": 3, "mode": "buy-again"}).json()
    assert recs.loc[recs[C.User] == user, C.Item].tolist() == [i["product_id"] for i in api["items"]]


def test_cold_start_options_are_the_values_seen_in_training(client: TestClient, run: PipelineRun) -> None:
    options = client.get("/v1/cold-start/options").json()
    assert options["locations"] == sorted(run.events[C.Location].dropna().astype(str).unique())
    assert options["genders"] == sorted(run.events[C.Gender].dropna().astype(str).unique())


def test_the_api_says_what_score_means(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["RecommendedItem"]["properties"]
    assert schema["score"]["description"] == SCORE_MEANING and "Order by `rank`" in SCORE_MEANING
    assert "order by this" in schema["rank"]["description"]
