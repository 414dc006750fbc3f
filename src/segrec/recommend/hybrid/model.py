"""The hybrid recommender: named stages from signals to an explained, diversified top-k.

Stages (LensKit's candidate selector -> scorer -> ranker -> re-ranker), one module each:

1. **signals** (:mod:`.signals`): LightFM WARP with side features, EASE item-item, TF-IDF content neighbours
   and profile, category mix, trend, popularity, popularity in the user's segment and demographic group;
   in buy-again mode also the repeat signal and the buy-again baseline's own score; each z-scored per user;
2. **validation** (:mod:`.validation`): a slice of the training data held out the way the model is judged;
3. **blend** (:mod:`.tuning`): per mode, every signal alone on that slice, then a coordinate search of the
   weights from the best of them, so the blend is never below its best part there;
4. **rank** (:mod:`.ranker`, discover mode): a logistic regression re-orders the blend's top ``pool_size``,
   kept only when, cross-fitted, it beats the blend on the slice;
5. **re-rank** (:mod:`.mmr`): maximal marginal relevance with content similarity;
6. **explain** (:mod:`.explain`) and **cold start** (:mod:`.cold`).

``score`` returns, for every item, what ``recommend_idx`` ranks by before MMR, so AUC and MRR describe what is
recommended: the buy-again blend, or with ``filter_seen=True`` the discover blend (with a ranker: its score on
the blend's top ``pool_size`` unbought items, every other item shifted below them in blend order).
Measured figures are in ``docs/benchmarks.md`` (``benchmarks/quality.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone

from ..._params import Rule, check_params, is_int, is_real, one_of, optional
from ...columns import Columns
from ...exceptions import InputError
from ...features.interactions import Dataset
from .._item_item import ease_weights
from .._topk import top_k
from ..base import Recommender, mask_seen, recommendations_frame
from ..collaborative import LightFMRecommender
from ..content import ContentRecommender
from ..priors import HALF_LIFE_DAYS, recency_weights
from .cold import cold_frame
from .explain import EXPLAIN_SIGNALS, content_wins_at, reasons
from .mmr import rerank
from .ranker import LOG_SIGNALS, LinearRanker, RankerInputs, choose_ranker, pool_only
from .scaled import Scaled, scaled_blend
from .signals import (
    ALL_SIGNALS,
    REPEAT_SIGNALS,
    SIGNALS,
    category_model,
    demographic_groups,
    popularity_prior,
    raw_signals,
    segment_favourites,
    segment_popularity,
    standardise,
    trend_prior,
)
from .state import load_state, model_state
from .tuning import SIGNED_GRID, WEIGHT_GRID, tune_weights, weighted_sum
from .validation import VALIDATIONS, Validation, make_validation

__all__ = ["HybridRecommender"]

_SCALARS = (
    "pool_size", "ease_lambda", "ease_max_items", "ease_keep", "w_cf", "w_item", "w_content", "w_trend",
    "w_popularity", "w_segment", "w_category", "w_peers", "w_profile", "trend_days", "w_repeat", "w_again",
    "repeat_half_life_days", "tune", "rank", "validation", "validation_fraction", "tune_users", "refit_epochs",
    "mmr_lambda", "random_state", "num_threads",
)
MIN_TUNE_USERS = 30  # fewer validation users than this: keep the given weights
MAX_TUNE_CELLS = 12_000_000  # validation users x products scored per signal (bounds the search's memory)


class HybridRecommender(Recommender):
    """LightFM, EASE, TF-IDF content, trend, popularity and segment signals in a blend tuned per mode on a
    validation slice drawn like the task, a learned ranker, MMR re-ranking, reasons, cold start.

    Parameters
    ----------
    collaborative, content : estimators or None
        Prototypes of the parts (cloned in ``fit``); None builds the defaults (LightFM WARP with user and item
        side features, 64 components, 10 epochs, then ``refit_epochs`` on all the data when tuning; TF-IDF
        words + character n-grams).
    pool_size : int
        Candidates the ranker and MMR re-order.
    ease_lambda : float or None
        EASE regularisation (None: no item-item scorer); ``ease_max_items`` and ``ease_keep`` bound its cost.
    w_cf, w_item, w_content, w_profile, w_category, w_trend, w_popularity, w_segment, w_peers : float
        Blend weights used without tuning (too few validation users, or ``tune=False``).
    w_repeat, w_again : float
        Buy-again weights of the repeat signal and of the buy-again baseline's score, used without tuning.
    tune : bool
        Choose each mode's weights on a validation slice (see Notes); ``weights_`` and ``weights_again_``.
    rank : bool
        With ``tune``, also fit the learned ranker of discover mode, kept only if it beats the blend.
    validation : {"auto", "temporal", "random", "last-n"}
        How the slice is drawn: the last period, a random share of each user's products, or each user's last
        order. ``auto``: temporal unless the dates cannot carry it (see :mod:`.validation`). The evaluation
        sets it to its own split's protocol.
    validation_fraction : float in (0, 0.5]
        Size of the slice (share of the period, or of each user's products).
    tune_users : int
        Validation users scored by the search (a seeded sample; bounds its cost). 1,500, about what a temporal
        slice of Online Retail holds (~1,100): the per-customer hold-outs had tuned on up to 3,000 and fitted in
        23-31 s against 15-19 s now; every cell of the quality matrix stayed above its floors
        (docs/benchmarks.md, "Hybrid fit time").
    refit_epochs : int
        LightFM epochs on all the data after tuning (warm start of the model fitted without the slice; 0:
        refit from scratch).
    trend_days, repeat_half_life_days : float
        Window of the trend prior; half-life of the repeat signal.
    mmr_lambda : float in (0, 1]
        MMR trade-off: 1 ranks by relevance only.

    Notes
    -----
    ``fit`` cuts the validation slice, fits the parts once on the rest, computes every signal for up to
    ``tune_users`` users with a target in the slice, and per mode scores each signal alone (P@10 + NDCG@10;
    discover: products new to the user, bought ones masked; buy-again: everything bought in the slice) and
    searches the weights from the best single signal. The ranker is fitted on the discover pools of the same
    users. The parts are then refitted on all the data (LightFM: ``refit_epochs`` more epochs). ``tuning_``
    is the validation table: the slice, each signal alone, the blend, the ranker and the choice.
    """

    _parameter_rules: ClassVar[dict[str, Rule]] = {
        "pool_size": is_int(1), "ease_lambda": optional(is_real(0, closed="neither")), "ease_max_items": is_int(1),
        "ease_keep": is_int(1), **{name: is_real() for name in (
            "w_cf", "w_item", "w_content", "w_trend", "w_popularity", "w_segment", "w_category", "w_peers",
            "w_profile", "w_repeat", "w_again")},
        "trend_days": is_real(0, closed="neither"), "repeat_half_life_days": is_real(0, closed="neither"),
        "tune": one_of(True, False), "rank": one_of(True, False), "validation": one_of(*VALIDATIONS),
        "validation_fraction": is_real(0, 0.5, closed="right"), "tune_users": is_int(1), "refit_epochs": is_int(0),
        "mmr_lambda": is_real(0, 1, closed="right"), "random_state": optional(is_int(0)),
        "num_threads": optional(is_int(1)),
    }

    def __init__(
        self,
        *,
        collaborative: LightFMRecommender | None = None,
        content: ContentRecommender | None = None,
        pool_size: int = 200,
        ease_lambda: float | None = 300.0,
        ease_max_items: int = 6000,
        ease_keep: int = 500,
        w_cf: float = 0.15,
        w_item: float = 1.0,
        w_content: float = 0.15,
        w_trend: float = 1.0,
        w_popularity: float = 0.0,
        w_segment: float = 0.0,
        w_category: float = 0.0,
        w_peers: float = 0.0,
        w_profile: float = 0.0,
        trend_days: float = 7.0,
        w_repeat: float = 2.0,
        w_again: float = 0.0,
        repeat_half_life_days: float = 60.0,
        tune: bool = True,
        rank: bool = True,
        validation: str = "auto",
        validation_fraction: float = 0.1,
        tune_users: int = 1500,
        refit_epochs: int = 3,
        mmr_lambda: float = 0.95,
        random_state: int | None = 42,
        num_threads: int | None = None,
    ) -> None:
        self.collaborative = collaborative
        self.content = content
        self.pool_size = pool_size
        self.ease_lambda = ease_lambda
        self.ease_max_items = ease_max_items
        self.ease_keep = ease_keep
        self.w_cf = w_cf
        self.w_item = w_item
        self.w_content = w_content
        self.w_trend = w_trend
        self.w_popularity = w_popularity
        self.w_segment = w_segment
        self.w_category = w_category
        self.w_peers = w_peers
        self.w_profile = w_profile
        self.trend_days = trend_days
        self.w_repeat = w_repeat
        self.w_again = w_again
        self.repeat_half_life_days = repeat_half_life_days
        self.tune = tune
        self.rank = rank
        self.validation = validation
        self.validation_fraction = validation_fraction
        self.tune_users = tune_users
        self.refit_epochs = refit_epochs
        self.mmr_lambda = mmr_lambda
        self.random_state = random_state
        self.num_threads = num_threads

    epoch_callback: Callable[[int, float | None], None] | None = None  # progress hook, not a parameter

    # ------------------------------------------------------------------------------------------ fitting
    def fit(self, dataset: Dataset, *, events: pd.DataFrame | None = None) -> Self:
        """Learn from ``dataset``; with the training ``events`` the validation slice is cut per purchase line and
        the buy-again signal weighs each line by its age (see :mod:`.validation`)."""
        if events is None:
            return super().fit(dataset)  # the parameter rules, then _fit
        check_params(self.get_params(deep=False), self._parameter_rules, type(self).__name__)
        if not isinstance(dataset, Dataset):
            raise InputError(f"{type(self).__name__}.fit expects a segrec Dataset, got {type(dataset).__name__}")
        self._fit_all(dataset, events)
        self.dataset_ = dataset
        return self

    def _fit(self, dataset: Dataset) -> None:  # the template method, for callers without events
        self._fit_all(dataset, None)

    def _fit_all(self, dataset: Dataset, events: pd.DataFrame | None) -> None:
        given = {"cf": self.w_cf, "item": self.w_item, "content": self.w_content, "trend": self.w_trend,
                 "popularity": self.w_popularity, "segment": self.w_segment, "category": self.w_category,
                 "peers": self.w_peers, "profile": self.w_profile}
        self.weights_ = {name: float(value) for name, value in given.items()}
        self.weights_again_ = {**self.weights_, "repeat": float(self.w_repeat), "again": float(self.w_again)}
        self.tuning_: dict[str, Any] = {"tuned": False}
        self.ranker_: LinearRanker | None = None
        cf = clone(self.collaborative) if self.collaborative is not None else LightFMRecommender(
            epochs=10, early_stopping=False, random_state=self.random_state, num_threads=self.num_threads)
        cf.epoch_callback = self.epoch_callback
        groups = demographic_groups(dataset, seed=self.random_state)
        # LightFM trains on one core (seeded: one thread) and releases the GIL, so its epochs run on a thread
        # beside the numpy work that does not read it (content, EASE, priors, the weight search): same
        # results, about a quarter less wall time on 2 cores (docs/benchmarks.md, hybrid fit time)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="segrec-lightfm") as side:
            if self.tune:
                validation = make_validation(dataset, events, self.validation, self.validation_fraction,
                                             self.random_state)
                users = self._validation_users(validation, dataset.n_items)
                if len(users) >= MIN_TUNE_USERS:
                    cf_job = side.submit(cf.fit, validation.train)
                    self._fit_content(dataset)
                    self._fit_parts(validation.train, groups, validation.events, ease=True)
                    self.cf_ = cf_job.result()
                    raw = raw_signals(self, validation.train, users, ALL_SIGNALS, again=self.again_)
                    # bring LightFM up to date with a few more epochs on everything (not a second full fit),
                    # while the search works on the signals just computed
                    refit = (side.submit(self.cf_.fit_more, dataset, self.refit_epochs) if self.refit_epochs > 0
                             else side.submit(clone(cf).fit, dataset))
                    self._tune(validation, users, raw)
                    self._fit_parts(dataset, groups, events, ease=self._needs_ease())
                    self.cf_ = refit.result()
                    return
                self.tuning_ = {"tuned": False, "validation": validation.description,
                                "skipped": f"{len(users)} validation users (< {MIN_TUNE_USERS}): the given weights"}
            cf_job = side.submit(cf.fit, dataset)
            self._fit_content(dataset)
            self._fit_parts(dataset, groups, events, ease=self._needs_ease())
            self.cf_ = cf_job.result()

    def _fit_content(self, dataset: Dataset) -> None:
        self.content_ = (clone(self.content) if self.content is not None else ContentRecommender()).fit(dataset)

    def _needs_ease(self) -> bool:
        """EASE's dense inverse (the most expensive step) only when a weight or the ranker reads it."""
        return self.ease_lambda is not None and bool(
            self.weights_.get("item") or self.weights_again_.get("item") or self.ranker_ is not None)

    def _fit_parts(self, dataset: Dataset, groups: np.ndarray, events: pd.DataFrame | None, ease: bool) -> None:
        """Everything but LightFM the signals read, fitted on ``dataset`` (content neighbours come from text
        only; ``groups``: demographic groups of the users, which the validation slice does not change)."""
        binary = sp.csr_matrix(dataset.purchases > 0, dtype=np.float32)
        self.item_item_ = (ease_weights(binary, self.ease_lambda, max_items=self.ease_max_items, keep=self.ease_keep)
                           if ease and self.ease_lambda is not None else sp.csr_matrix(binary.shape[1:] * 2, dtype=np.float32))
        self.trend_ = trend_prior(dataset, self.trend_days)
        self.popularity_ = popularity_prior(dataset)
        self.segment_popularity_, self.user_segment_ = segment_popularity(dataset)
        self.peer_popularity_, self.user_peers_ = segment_popularity(dataset, groups)
        self.favourites_ = segment_favourites(dataset)
        self.item_category_, self.category_share_, self.category_prior_ = category_model(dataset)
        self.again_ = recency_weights(dataset, HALF_LIFE_DAYS, events)

    def _validation_users(self, validation: Validation, n_items: int) -> np.ndarray:
        """A seeded sample of users with a history before the slice and something bought in it."""
        has_target = np.diff(validation.all.indptr) > 0
        has_history = np.diff(validation.train.purchases.indptr) > 0
        users = np.flatnonzero(has_target & has_history)
        cap = max(MIN_TUNE_USERS, min(self.tune_users, MAX_TUNE_CELLS // max(n_items, 1)))
        if len(users) > cap:
            rng = np.random.default_rng(self.random_state)
            users = np.sort(rng.choice(users, cap, replace=False))
        return users

    def _tune(self, validation: Validation, users: np.ndarray, raw: dict[str, np.ndarray]) -> None:
        """Per mode: each signal alone, the search from the best one, and (discover) the ranker; ``raw``: every
        signal of ``users`` on the slice's training part."""
        train = validation.train
        z = {name: standardise(block) for name, block in raw.items()}
        seen = train.purchases[users]
        new = validation.new[users]
        rows = np.flatnonzero(np.diff(new.indptr) > 0)  # discover: users with a product new to them
        # the discover users' blocks; a random hold-out gives every user one, and then copying them all
        # (1,500 x 3,600 floats per signal on Online Retail) would only cost time
        def of_rows(blocks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {n: blocks[n] if len(rows) == len(users) else blocks[n][rows] for n in SIGNALS}

        grids = {name: WEIGHT_GRID for name in SIGNALS}
        discover = {}
        if len(rows) >= MIN_TUNE_USERS:
            weights, discover = tune_weights(of_rows(z), new[rows], seen[rows], grids)
            self.weights_ = weights
        # a random hold-out of pairs never holds a repeat: when it only stands in for the next purchases
        # (validation "auto" without usable dates) it cannot judge the repeat signals, which keep their weights
        stand_in = validation.description["asked"] == "auto" and validation.description["protocol"] == "random"
        fixed = {name: self.weights_again_[name] for name in REPEAT_SIGNALS} if stand_in else None
        again_weights, again = tune_weights(z, validation.all[users], None,
                                            grids | {name: SIGNED_GRID for name in REPEAT_SIGNALS}, fixed=fixed)
        self.weights_again_ = again_weights
        self.tuning_ = {"tuned": True, "validation": validation.description, "users": len(users),
                        "discover": {**discover, "weights": self.weights_},
                        "buy_again": {**again, "weights": again_weights}}
        if self.rank and discover:
            inputs = self._ranker_inputs(train, users[rows], of_rows(raw), of_rows(z))
            blend = weighted_sum(inputs.z, self.weights_, (len(rows), train.n_items))
            pool, _ = _unbought_top(blend, train, users[rows], min(self.pool_size, train.n_items))
            self.ranker_, report = choose_ranker(inputs, blend, pool, new[rows], seen[rows], self.random_state)
            self.tuning_["discover"]["ranker"] = report

    # ------------------------------------------------------------------------------------------- stages
    def _content_for(self, dataset: Dataset) -> ContentRecommender:
        """The content model reading histories from ``dataset`` (neighbours and shared words come from text)."""
        if self.content_.dataset_ is dataset:
            return self.content_
        content = copy.copy(self.content_)
        content.dataset_ = dataset
        return content

    def _ranker_inputs(self, dataset: Dataset, user_idx: np.ndarray, raw: dict[str, np.ndarray],
                       z: dict[str, np.ndarray] | None = None) -> RankerInputs:
        """Everything the ranker (and the blend, from ``z``) reads for a chunk of users."""
        content = self._content_for(dataset)
        history = np.log1p(np.diff(dataset.purchases.indptr)[user_idx]).astype(np.float32)
        return RankerInputs(z=z if z is not None else {name: standardise(block) for name, block in raw.items()},
                            raw={name: raw[name] for name in LOG_SIGNALS if name in raw}, history=history,
                            lifts=content.word_lifts(user_idx), words=content.profile_words_,
                            terms=list(content.profile_terms_))

    def _ranker_inputs_at(self, user_idx: np.ndarray, scaled: dict[str, Scaled], cells: np.ndarray) -> RankerInputs:
        """What the ranker reads for a chunk of users at their pool's ``cells`` only (see ``LinearRanker.score``'s
        ``gathered``): z-scores and raw values of those cells, not of every product."""
        return self._ranker_inputs(self.dataset_, user_idx,
                                   {name: scaled[name].raw_at(cells) for name in LOG_SIGNALS if name in scaled},
                                   {name: part.at(cells) for name, part in scaled.items()})

    def _blend(self, user_idx: np.ndarray, discover: bool,
               names: Iterable[str] | None = None) -> tuple[np.ndarray, dict[str, Scaled]]:
        """The mode's weighted sum and its parts with their z-score parameters (:mod:`.scaled`); the signals
        are ``names`` (default: those with a weight; the others are not computed)."""
        weights = self.weights_ if discover else self.weights_again_
        if names is None:
            names = [name for name in (SIGNALS if discover else ALL_SIGNALS) if weights.get(name, 0.0)]
        raw = raw_signals(self, self.dataset_, user_idx, names, tables=True)
        return scaled_blend(raw, weights, (len(user_idx), self.dataset_.n_items))

    def _ranked_pool(self, user_idx: np.ndarray, width: int,
                     keep_blend: bool = False) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, dict[str, Scaled]]:
        """Discover with a ranker: the blend of every item (with ``keep_blend``; else None), its top ``width``
        unbought items, the ranker's score of each of them and every signal's z-score parameters."""
        blended, scaled = self._blend(user_idx, discover=True, names=SIGNALS)
        kept = blended.copy() if keep_blend else None
        pool, _ = _unbought_top(blended, self.dataset_, user_idx, width)
        inputs = self._ranker_inputs_at(user_idx, scaled, np.maximum(pool, 0))
        return kept, pool, self.ranker_.score(inputs, pool, gathered=True), scaled

    def _score(self, user_idx: np.ndarray) -> np.ndarray:
        """The buy-again blend for every item (finite everywhere)."""
        return self._blend(user_idx, discover=False)[0]

    def _score_discover(self, user_idx: np.ndarray) -> np.ndarray:
        """The discover ranking before MMR as scores: the ranker's score on the blend's top ``pool_size`` unbought
        items, every other item its blend score shifted below the lowest of them (blend order kept)."""
        if self.ranker_ is None:
            return self._blend(user_idx, discover=True)[0]
        out, pool, values, _ = self._ranked_pool(user_idx, min(self.pool_size, self.dataset_.n_items), keep_blend=True)
        ranked = pool_only(values, pool, out.shape[1])
        in_pool = np.isfinite(ranked)
        floor = np.min(np.where(in_pool, ranked, np.inf), axis=1, keepdims=True)
        rest = np.max(np.where(in_pool, -np.inf, out), axis=1, keepdims=True)
        shift = np.where(np.isfinite(floor) & np.isfinite(rest), floor - rest - 1.0, 0.0).astype(np.float32)
        return np.where(in_pool, ranked, out + shift)

    def _recommend_chunk(self, user_idx: np.ndarray, k: int, filter_seen: bool) -> tuple[np.ndarray, np.ndarray]:
        items, scores, _ = self._rank_chunk(user_idx, k, filter_seen, explain=False)
        return items, scores

    def _rank_chunk(self, user_idx: np.ndarray, k: int, filter_seen: bool,
                    explain: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Top ``k`` after MMR; with ``explain`` also :func:`.explain.content_wins` of each listed item, read from
        the signals this ranking computed (the reasons would otherwise compute them a second time)."""
        neighbours = self.content_.neighbours_
        n_items = self.dataset_.n_items
        width = max(k, min(self.pool_size, n_items))
        if filter_seen and self.ranker_ is not None:  # discover: the ranker re-orders the blend's pool
            _, pool, values, scaled = self._ranked_pool(user_idx, width)
            relevance = np.where(pool >= 0, values, -np.inf).astype(np.float32)
        else:
            blended, scaled = self._blend(user_idx, discover=filter_seen)
            pool, relevance = (_unbought_top(blended, self.dataset_, user_idx, width) if filter_seen
                               else top_k(blended, width))
        items, scores = rerank(pool, relevance, k, self.mmr_lambda, neighbours)
        if not explain:
            return items, scores, None
        missing = [n for n in EXPLAIN_SIGNALS if self.weights_.get(n) and n not in scaled]
        if missing:  # buy-again mode: the reasons compare the discover weights' signals
            raw = raw_signals(self, self.dataset_, user_idx, missing, tables=True)
            scaled = {**scaled, **scaled_blend(raw, {}, (len(user_idx), n_items))[1]}
        cells = np.maximum(items, 0)
        return items, scores, content_wins_at(
            self.weights_, {n: scaled[n].at(cells) for n in EXPLAIN_SIGNALS if self.weights_.get(n)})

    # ---------------------------------------------------------------------------------------- explained
    def recommend(
        self,
        user_ids: Iterable[object],
        k: int = 10,
        *,
        filter_seen: bool = True,
        on_unknown: Literal["raise", "skip"] = "raise",
    ) -> pd.DataFrame:
        """Top-k per user with names and reasons: (user_id, rank, product_id, product_name, score, reason);
        the reasons are :func:`.explain.reasons`'."""
        ids, idx = self._known_users(user_ids, on_unknown)
        items, scores, wins = self._ranked(idx, k, lambda chunk: self._rank_chunk(chunk, k, filter_seen, explain=True),
                                           (np.int64, np.float32, bool))
        frame = recommendations_frame(self.dataset_, ids, items, scores)
        listed = items >= 0
        item_idx = items[listed]
        frame[Columns.ItemName] = self.dataset_.catalogue[Columns.ItemName].to_numpy()[item_idx].astype(object)
        user_idx = np.broadcast_to(idx[:, None], items.shape)[listed]
        frame[Columns.Reason] = reasons(self, user_idx, item_idx, wins[listed]) if len(frame) else []
        return frame[list(Columns.Recommendations)]

    def recommend_cold(
        self,
        *,
        attributes: dict[str, Any] | None = None,
        product_ids: list[str] | None = None,
        k: int = 10,
        exclude: list[str] | None = None,
    ) -> pd.DataFrame:
        """Recommendations for someone the model has not seen; never fails for lack of information.

        ``product_ids`` (a session) -> content neighbours plus the mean item embedding's neighbours;
        ``attributes`` (demographics, optionally ``segment``) -> LightFM from side features alone plus the
        segment's favourites; both add up; nothing -> the trend/popularity prior. Unknown product ids are
        ignored with a :class:`~segrec.exceptions.SegrecWarning` (also listed in ``frame.attrs["notes"]``).
        Returns (rank, product_id, product_name, score, reason); ``exclude`` defaults to ``product_ids``.
        """
        self.check_fitted()
        return cold_frame(self, attributes, product_ids, k, exclude)

    def similar_products(self, product_id: object, k: int = 10) -> pd.DataFrame:
        """Content neighbours of a product (works for new products that only have text)."""
        self.check_fitted()
        return self.content_.similar_products(product_id, k)

    # -------------------------------------------------------------------------------------------- state
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON config (parameters, parts, weights, tuning table) and arrays (parts prefixed ``cf__`` / ``content__``)."""
        self.check_fitted()
        return model_state(self, {name: getattr(self, name) for name in _SCALARS})

    @classmethod
    def from_state(cls, config: dict[str, Any], arrays: dict[str, np.ndarray], dataset: Dataset) -> Self:
        if config.get("class") != cls.__name__:
            raise TypeError(f"state of a {config.get('class')!r} cannot be loaded into {cls.__name__}")
        params = {name: value for name, value in config["params"].items() if name in _SCALARS}
        return load_state(cls(**params), config, arrays, dataset)


def _unbought_top(blended: np.ndarray, dataset: Dataset, user_idx: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The top ``width`` items of ``blended`` that the users have not bought (``blended`` is masked in place)."""
    mask_seen(blended, dataset, user_idx)
    return top_k(blended, width)
