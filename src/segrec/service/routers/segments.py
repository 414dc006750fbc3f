"""Customer segments: a known customer's segment, the segment profiles, and assigning a new customer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from ..._json import to_jsonable
from ...columns import Columns
from ..deps import BundleDep
from ..errors import NotAvailable
from ..schemas import (
    MAX_ID_LENGTH,
    SegmentAssignment,
    SegmentFeatures,
    SegmentProfile,
    SegmentProfiles,
    UserSegment,
    error_responses,
)

router = APIRouter(prefix="/v1", tags=["segments"], responses=error_responses(404, 503))

_PROFILE_FIELDS = set(SegmentProfile.model_fields) - {"features"}


@router.get("/users/{user_id}/segment")
async def user_segment(
    served: BundleDep, user_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)]
) -> UserSegment:
    """The segment a known customer was assigned when the bundle was built."""
    if not served.segment_of:
        raise NotAvailable("this bundle has no segments; save it with save_bundle(..., segments=...)")
    segment = served.segment_of.get(user_id)
    if segment is None:
        raise NotAvailable(f"user {user_id!r} has no segment in this bundle; "
                           "POST their features to /v1/segments/assign")
    name, action = served.segment_label(segment)
    return UserSegment(user_id=user_id, segment=segment, segment_name=name, action=action)


@router.get("/segments")
async def segment_profiles(served: BundleDep) -> SegmentProfiles:
    """Every segment's name, suggested action, size, revenue and feature means/medians."""
    if not served.profiles:
        raise NotAvailable("this bundle has no segment profiles; save it with save_bundle(..., profiles=...)")
    return SegmentProfiles(segments=[_profile(p) for _, p in sorted(served.profiles.items())])


@router.post("/segments/assign", responses=error_responses(400, 413))
def assign_segment(served: BundleDep, features: SegmentFeatures) -> SegmentAssignment:
    """Segment of a new customer from the saved segmenter (missing features get the training medians)."""
    if served.bundle.segmenter is None:
        raise NotAvailable("this bundle has no segmenter; save it with save_bundle(..., segmenter=...)")
    segment, imputed = served.assign_segment(features.model_dump())
    name, action = served.segment_label(segment)
    return SegmentAssignment(segment=segment, segment_name=name, action=action, imputed=imputed)


def _profile(record: dict[str, Any]) -> SegmentProfile:
    """Known fields as they are, every other number under ``features``; NaN becomes null."""
    known = {key: to_jsonable(value) for key, value in record.items() if key in _PROFILE_FIELDS}
    numbers = {key: to_jsonable(float(value)) for key, value in record.items()
               if key not in _PROFILE_FIELDS and isinstance(value, int | float) and not isinstance(value, bool)}
    known[Columns.Segment] = int(record[Columns.Segment])
    return SegmentProfile(**known, features=numbers)
