"""Recommendations for a known customer, a batch of customers, or a new customer (cold start).

An unknown user id is not an error: the customer may have signed up after the bundle was built, so they get
the cold-start answer, flagged ``cold_start: true``, or, once the API received events of theirs, an answer
personalised from those events (``personalised_from_events: true``). Known customers without new events are
answered from the top-K computed at load (:mod:`segrec.service.cache`), so the single-user endpoint is
``async`` and does no model work on the event loop; a customer with new events gets the fold-in
(:mod:`segrec.recommend.foldin`), computed in the thread pool once per new event and cached; a ``k`` above
the cached K, or business rules that leave fewer than ``k`` of the cached items, are computed live there too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Body, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from ...columns import Columns
from ...recommend._topk import top_k
from ...recommend.base import mask_seen
from ...recommend.foldin import NewPurchase, cold_ranking
from ..deps import BundleDep, SettingsDep, UnavailableDep, serving
from ..errors import NotAvailable, check_limit
from ..folder import FoldProcess
from ..live import Ranking, UserDelta, allowed_items, filtered, ranking_items
from ..schemas import (
    MAX_ID_LENGTH,
    BatchRecommendationRequest,
    ColdStartRequest,
    Mode,
    RecommendationQuery,
    RecommendationsResponse,
    RecommendedItem,
    UserRecommendations,
    error_responses,
)
from ..state import Served, cold_items, frame_items

FOLDED_K = 20  # folded answers cached per customer (or the precomputed K when larger)
CHUNK_USERS = 256  # customers ranked at once under rules (bounds the dense blocks)

router = APIRouter(prefix="/v1", tags=["recommendations"], responses=error_responses(503))


@router.get("/users/{user_id}/recommendations")
async def user_recommendations(
    request: Request,
    user_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)],
    query: Annotated[RecommendationQuery, Query()],
) -> UserRecommendations:
    """Top-k products for one customer: ``discover`` hides what they bought, ``buy-again`` does not.

    Events posted to ``/v1/events`` count at once; the business rules (query parameters, and the availability
    list) apply, and the answer still holds ``k`` products whenever ``k`` pass them."""
    served, settings, unavailable = serving(request)
    k, mode = query.k, query.mode
    check_limit(k, settings.max_k, ("query", "k"))
    allowed = allowed_items(served, query.rules(), unavailable)
    answer = quick_answer(served, user_id, k, mode, allowed)
    if answer is None:
        answer = await run_in_threadpool(full_answer, served, user_id, k, mode, allowed)
    return answer


@router.post("/recommendations", responses=error_responses(400, 413))
def batch_recommendations(
    served: BundleDep,
    settings: SettingsDep,
    unavailable: UnavailableDep,
    request: Annotated[BatchRecommendationRequest | ColdStartRequest, Body()],
) -> RecommendationsResponse:
    """Either ``user_ids`` (a batch), or a new customer's ``customer`` attributes and/or ``product_ids``; the
    business rules in the body apply to every answer.

    Unknown ``product_ids`` are ignored and listed in ``notes`` (a product may be newer than the bundle).
    """
    check_limit(request.k, settings.max_k, ("body", "k"))
    allowed = allowed_items(served, request, unavailable)
    if isinstance(request, BatchRecommendationRequest):
        check_limit(len(request.user_ids), settings.max_batch, ("body", "user_ids"))
        return RecommendationsResponse(results=batch_answers(served, request.user_ids, request.k, request.mode,
                                                             allowed))
    model = served.bundle.recommender
    if not model.recommends_cold_users:
        raise NotAvailable(f"this bundle's model ({type(model).__name__}) has no cold start "
                           "for new customers; serve a bundle of the hybrid model")
    attributes = request.customer.model_dump(exclude_none=True) if request.customer else {}
    products = [p for p in request.product_ids or [] if p in served.product_index]
    unknown = [p for p in request.product_ids or [] if p not in served.product_index]
    notes = [f"ignored unknown product id(s): {', '.join(unknown[:5])}"] if unknown else []
    if allowed is None:
        items = cold_items(model, attributes or None, products or None, request.k)
    else:
        items = ranked_items(served, *cold_ranking(model, attributes or None, _indices(served, products),
                                                   request.k, allowed))
    return RecommendationsResponse(results=[UserRecommendations(user_id=None, mode="discover", cold_start=True,
                                                                items=items, notes=notes)])


def quick_answer(served: Served, user_id: str, k: int, mode: Mode,
                 allowed: np.ndarray | None = None) -> UserRecommendations | None:
    """The answer from what is already computed (at load, or the customer's cached fold-in); None when it needs
    model work (no cache for this ``k``, a fold-in to redo, or rules that leave fewer than ``k`` cached items)."""
    delta = _delta(served, user_id)
    if delta is not None:
        cached = _current(delta, mode)
        if cached is None or k > len(cached.items):
            return None
        items = ranking_items(served, cached, allowed, k)
        return None if items is None else _folded(user_id, mode, items)
    user = served.user_index.get(user_id)
    if user is None:
        items = filtered(served.cold, served, allowed, k)
        return None if items is None else UserRecommendations(user_id=user_id, mode=mode, cold_start=True,
                                                               items=items)
    top = served.top.get(mode)
    if top is None or k > top.k:
        return None
    items = filtered(top.answer(user, k if allowed is None else top.k, served.item_ids, served.item_names),
                     served, allowed, k)
    return None if items is None else UserRecommendations(user_id=user_id, mode=mode, cold_start=False,
                                                           items=items)


def cached_answer(served: Served, user_id: str, k: int, mode: Mode) -> UserRecommendations | None:
    """The answer from what was computed at load, or None when ``k`` exceeds the cache (no rules)."""
    return quick_answer(served, user_id, k, mode)


def full_answer(served: Served, user_id: str, k: int, mode: Mode,
                allowed: np.ndarray | None = None) -> UserRecommendations:
    """Any customer's answer, computing what :func:`quick_answer` lacks (in a worker thread)."""
    answer = quick_answer(served, user_id, k, mode, allowed)
    return answer if answer is not None else batch_answers(served, [user_id], k, mode, allowed)[0]


def _cold_answer(served: Served, user_id: str, k: int, mode: Mode, allowed: np.ndarray | None) -> UserRecommendations:
    """No events, and the precomputed cold start does not hold ``k`` that pass the rules."""
    model = served.bundle.recommender
    items = (ranked_items(served, *cold_ranking(model, None, np.zeros(0, np.int64), k, allowed))
             if served.foldin is not None else [])
    return UserRecommendations(user_id=user_id, mode=mode, cold_start=True, items=items)


def folded_items(served: Served, user_id: str, delta: UserDelta, k: int, mode: Mode,
                 allowed: np.ndarray | None) -> list[RecommendedItem]:
    """The fold-in of the customer's new events: the rule-free top-K is cached until their next event."""
    width = _fold_width(served)
    if k <= width:
        cached = _current(delta, mode)
        if cached is None:
            cached = _fold(served, user_id, delta, width, mode, None)
            delta.answers[mode] = (delta.version, cached)
        items = ranking_items(served, cached, allowed, k)
        if items is not None:
            return items
    return ranking_items(served, _fold(served, user_id, delta, k, mode, allowed), None, k)


def warm_folds(served: Served, user_ids: Sequence[str], folder: FoldProcess | None = None) -> tuple[str, int]:
    """Fold just-stored events in ahead of the customers' next request (the event writer calls this after
    acknowledging a batch): their discover answers are ranked in batched calls and cached, so the request
    that follows is answered from the cache on the event loop. A request that comes first folds on its own.
    With a ``folder``, its process ranks them when it can (:mod:`segrec.service.folder`), else this thread.
    Returns where they were ranked (``process`` or ``thread``) and how many customers."""
    todo = []
    for user_id in dict.fromkeys(user_ids):
        delta = _delta(served, user_id)
        if delta is None or _current(delta, "discover") is not None:
            continue
        new = _new_purchases(served, delta)
        if new:  # (views and carts alone: the session cold start, computed when asked)
            todo.append((delta, delta.version, served.user_index.get(user_id, -1), new))
    if not todo:
        return "thread", 0
    rows, width = [(user, new) for _, _, user, new in todo], _fold_width(served)
    ranked = folder.rank(served.bundle.path, served.bundle.manifest, rows, width) if folder is not None else None
    answers = ([Ranking.of(*row) for row in ranked] if ranked is not None
               else _fold_rankings(served, rows, width, True, None))
    for (delta, version, _, _), items in zip(todo, answers, strict=True):
        delta.answers.setdefault("discover", (version, items))
    return ("thread" if ranked is None else "process"), len(todo)


def _current(delta: UserDelta, mode: Mode) -> Ranking | None:
    """The customer's cached fold-in in ``mode`` when it has folded in every event of theirs, else None."""
    cached = delta.answers.get(mode)
    return cached[1] if cached is not None and cached[0] == delta.version else None


def _fold_width(served: Served) -> int:
    """How many products a cached fold-in holds (the precomputed K when larger)."""
    return max(FOLDED_K, served.precompute_k)


def _fold_rankings(served: Served, rows: Sequence[tuple[int, Sequence[NewPurchase]]], k: int, discover: bool,
                   allowed: np.ndarray | None) -> list[Ranking]:
    """The fold-in's ranking of each (bundle user index or -1, new purchases), ``CHUNK_USERS`` histories at a
    time (bounds the dense blocks)."""
    engine, out = served.foldin, []
    for start in range(0, len(rows), CHUNK_USERS):
        items, scores, reasons = engine.recommend(engine.histories(rows[start:start + CHUNK_USERS]), k,
                                                  discover=discover, allowed=allowed)
        out += [Ranking.of(i, s, r) for i, s, r in zip(items, scores, reasons, strict=True)]
    return out


def _new_purchases(served: Served, delta: UserDelta) -> list[NewPurchase]:
    live = served.live
    return [NewPurchase(served.product_index[p], int(lines), units, money, live.age_days(latest))
            for p, (lines, units, money, latest) in delta.purchases.items() if p in served.product_index]


def _fold(served: Served, user_id: str, delta: UserDelta, k: int, mode: Mode,
          allowed: np.ndarray | None) -> Ranking:
    engine = served.foldin
    user = served.user_index.get(user_id, -1)
    new = _new_purchases(served, delta)
    if user < 0 and not new:  # views and carts only: the hybrid's session cold start over those products
        session = _indices(served, list(delta.session))
        return Ranking.of(*cold_ranking(engine.model, None, session, k, allowed))
    return _fold_rankings(served, [(user, new)], k, mode == "discover", allowed)[0]


def ruled_items(served: Served, users: Sequence[int], k: int, mode: Mode,
                allowed: np.ndarray) -> list[list[RecommendedItem]]:
    """Known customers' rankings with only ``allowed`` products (rules that bite into the cached top-K)."""
    discover = mode == "discover"
    if served.foldin is not None:  # the hybrid's ranking, reasons included (= recommend() without rules)
        return [ranking_items(served, r, None, k) for r in _fold_rankings(served, [(int(u), []) for u in users], k,
                                                                          discover, allowed)]
    model = served.bundle.recommender
    out: list[list[RecommendedItem]] = []
    for start in range(0, len(users), CHUNK_USERS):
        chunk = np.asarray(users[start:start + CHUNK_USERS], np.int64)
        block = model.score(chunk, filter_seen=discover).copy()
        if discover:
            mask_seen(block, model.dataset_, chunk)
        block[:, ~allowed] = -np.inf
        items, scores = top_k(block, k)
        out += [ranked_items(served, i, s, [""] * k) for i, s in zip(items, scores, strict=True)]
    return out


def ranked_items(served: Served, items: np.ndarray, scores: np.ndarray, reasons: list[str]) -> list[RecommendedItem]:
    """Response items from item indices (up to the first -1 or non-finite score), ranks 1..n."""
    return ranking_items(served, Ranking.of(items, scores, reasons), None, len(items))


def live_answers(served: Served, user_ids: Sequence[str], k: int, mode: Mode) -> list[UserRecommendations]:
    """Known users' answers from the model itself (one batched call), in request order."""
    frame = served.bundle.recommender.recommend(list(dict.fromkeys(user_ids)), k, filter_seen=mode == "discover")
    by_user = {str(user): frame_items(part, served.name_of) for user, part in frame.groupby(Columns.User, sort=False)}
    return [UserRecommendations(user_id=u, mode=mode, cold_start=False, items=by_user.get(u, [])) for u in user_ids]


def batch_answers(served: Served, user_ids: Sequence[str], k: int, mode: Mode,
                  allowed: np.ndarray | None = None) -> list[UserRecommendations]:
    """Answers in request order; what is not precomputed is computed once per distinct customer, batched by
    kind (the model's own batch, the ruled ranking, one cold answer for every unknown customer)."""
    distinct = list(dict.fromkeys(user_ids))
    done: dict[str, UserRecommendations] = {}
    missing = []
    for user in distinct:
        answer = quick_answer(served, user, k, mode, allowed)
        if answer is None:
            missing.append(user)
        else:
            done[user] = answer
    known = [u for u in missing if _delta(served, u) is None and u in served.user_index]
    cold = [u for u in missing if _delta(served, u) is None and u not in served.user_index]
    if known and allowed is None:
        done.update(zip(known, live_answers(served, known, k, mode), strict=True))
    elif known:
        ruled = ruled_items(served, [served.user_index[u] for u in known], k, mode, allowed)
        done.update((u, UserRecommendations(user_id=u, mode=mode, cold_start=False, items=items))
                    for u, items in zip(known, ruled, strict=True))
    if cold:
        answer = _cold_answer(served, cold[0], k, mode, allowed)
        done.update((u, answer.model_copy(update={"user_id": u})) for u in cold)
    for user in missing:
        if user not in done:  # new events: the fold-in, cached per customer until their next event
            done[user] = _folded(user, mode, folded_items(served, user, _delta(served, user), k, mode, allowed))
    return [done[user] for user in user_ids]


def _delta(served: Served, user_id: str) -> UserDelta | None:
    """The customer's new events when they change the answer: purchases of products the bundle knows (views and
    carts too for a customer the bundle does not know); None keeps the precomputed path."""
    if served.live is None or served.foldin is None:
        return None
    delta = served.live.users.get(user_id)
    if delta is None:
        return None
    known = served.product_index
    if any(p in known for p in delta.purchases):
        return delta
    if user_id not in served.user_index and any(p in known for p in delta.session):
        return delta
    return None


def _folded(user_id: str, mode: Mode, items: list[RecommendedItem]) -> UserRecommendations:
    return UserRecommendations(user_id=user_id, mode=mode, cold_start=False, personalised_from_events=True,
                               items=items)


def _indices(served: Served, products: Sequence[str]) -> np.ndarray:
    return np.asarray([served.product_index[p] for p in products if p in served.product_index], np.int64)

