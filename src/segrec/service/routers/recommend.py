"""Recommendations for a known customer, a batch of customers, or a new customer (cold start).

An unknown user id is not an error: the customer may have signed up after the bundle was built, so they get
the cold-start answer, flagged ``cold_start: true``. Known customers are answered from the top-K computed at
load (:mod:`segrec.service.cache`), so the single-user endpoint is ``async`` and does no model work on the
event loop; a ``k`` above the cached K is computed live in the thread pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query
from starlette.concurrency import run_in_threadpool

from ...columns import Columns
from ..deps import BundleDep, SettingsDep
from ..errors import NotAvailable, check_limit
from ..schemas import (
    MAX_ID_LENGTH,
    MAX_K,
    BatchRecommendationRequest,
    ColdStartRequest,
    Mode,
    RecommendationsResponse,
    UserRecommendations,
    error_responses,
)
from ..state import Served, cold_items, frame_items

router = APIRouter(prefix="/v1", tags=["recommendations"], responses=error_responses(503))


@router.get("/users/{user_id}/recommendations")
async def user_recommendations(
    served: BundleDep,
    settings: SettingsDep,
    user_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)],
    k: Annotated[int, Query(ge=1, le=MAX_K, description="number of products")] = 10,
    mode: Mode = "discover",
) -> UserRecommendations:
    """Top-k products for one customer: ``discover`` hides what they bought, ``buy-again`` does not."""
    check_limit(k, settings.max_k, ("query", "k"))
    answer = cached_answer(served, user_id, k, mode)
    if answer is None:
        answer = (await run_in_threadpool(live_answers, served, [user_id], k, mode))[0]
    return answer


@router.post("/recommendations", responses=error_responses(400, 413))
def batch_recommendations(
    served: BundleDep,
    settings: SettingsDep,
    request: Annotated[BatchRecommendationRequest | ColdStartRequest, Body()],
) -> RecommendationsResponse:
    """Either ``user_ids`` (a batch), or a new customer's ``customer`` attributes and/or ``product_ids``.

    Unknown ``product_ids`` are ignored and listed in ``notes`` (a product may be newer than the bundle).
    """
    check_limit(request.k, settings.max_k, ("body", "k"))
    if isinstance(request, BatchRecommendationRequest):
        check_limit(len(request.user_ids), settings.max_batch, ("body", "user_ids"))
        return RecommendationsResponse(results=batch_answers(served, request.user_ids, request.k, request.mode))
    if not hasattr(served.bundle.recommender, "recommend_cold"):
        raise NotAvailable(f"this bundle's model ({type(served.bundle.recommender).__name__}) has no cold start "
                           "for new customers; serve a bundle of the hybrid model")
    attributes = request.customer.model_dump(exclude_none=True) if request.customer else {}
    products = [p for p in request.product_ids or [] if p in served.product_index]
    unknown = [p for p in request.product_ids or [] if p not in served.product_index]
    notes = [f"ignored unknown product id(s): {', '.join(unknown[:5])}"] if unknown else []
    items = cold_items(served.bundle.recommender, attributes or None, products or None, request.k)
    return RecommendationsResponse(results=[UserRecommendations(user_id=None, mode="discover", cold_start=True,
                                                                items=items, notes=notes)])


def cached_answer(served: Served, user_id: str, k: int, mode: Mode) -> UserRecommendations | None:
    """The answer from what was computed at load, or None when ``k`` exceeds the cache."""
    user = served.user_index.get(user_id)
    if user is None:
        return UserRecommendations(user_id=user_id, mode=mode, cold_start=True, items=served.cold[:k])
    top = served.top.get(mode)
    if top is None or k > top.k:
        return None
    items = top.answer(user, k, served.item_ids, served.item_names)
    return UserRecommendations(user_id=user_id, mode=mode, cold_start=False, items=items)


def live_answers(served: Served, user_ids: Sequence[str], k: int, mode: Mode) -> list[UserRecommendations]:
    """Known users' answers from the model itself (one batched call), in request order."""
    frame = served.bundle.recommender.recommend(list(dict.fromkeys(user_ids)), k, filter_seen=mode == "discover")
    by_user = {str(user): frame_items(part, served.name_of) for user, part in frame.groupby(Columns.User, sort=False)}
    return [UserRecommendations(user_id=u, mode=mode, cold_start=False, items=by_user.get(u, [])) for u in user_ids]


def batch_answers(served: Served, user_ids: Sequence[str], k: int, mode: Mode) -> list[UserRecommendations]:
    answers = [cached_answer(served, user, k, mode) for user in user_ids]
    missing = [user for user, answer in zip(user_ids, answers, strict=True) if answer is None]
    if missing:
        live = iter(live_answers(served, missing, k, mode))
        answers = [answer if answer is not None else next(live) for answer in answers]
    return answers  # type: ignore[return-value]
