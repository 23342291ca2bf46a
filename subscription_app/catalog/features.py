"""The feature catalogue: keys plans grant, each a metered limit per period or an on/off flag."""
from __future__ import annotations

import re

from sqlalchemy import select

from core.errors import ApiError
from core.extensions import db
from core.schemas import BIGINT_MAX
from subscription_app.catalog import audit
from subscription_app.catalog.audit import Actor
from subscription_app.catalog.models import FEATURE_KINDS, Feature


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, f"Invalid {field}: {message}", errors={"json": {field: [message]}})


def kinds() -> dict[str, str]:
    return dict(db.session.execute(select(Feature.key, Feature.kind)).all())


def list_features() -> list[Feature]:
    return db.session.scalars(select(Feature).order_by(Feature.key)).all()


def _value_problem(kind: str, value) -> str | None:
    if kind == "flag":
        return None if isinstance(value, bool) else "A flag feature takes true or false."
    if value is None:
        return None  # unlimited
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= BIGINT_MAX:
        return "A metered feature takes a whole number limit, 0 or more, or null for unlimited."
    return None


def check_limits(limits) -> None:
    """Every key is a catalogued feature and every value fits its kind; else a 422 naming `feature_limits.<key>`."""
    if not isinstance(limits, dict):
        raise _invalid("feature_limits", "Must be an object of feature key to value.")
    known = kinds()
    for key, value in limits.items():
        if key not in known:
            raise _invalid(f"feature_limits.{key}", "Unknown feature: create it first (POST /v1/admin/features).")
        problem = _value_problem(known[key], value)
        if problem:
            raise _invalid(f"feature_limits.{key}", problem)


def create_feature(spec: dict, actor: Actor) -> Feature:
    key = spec.get("key")
    if not isinstance(key, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", key):
        raise _invalid("key", "Must be 1 to 64 of a-z, 0-9 and _, starting with a letter.")
    if spec.get("kind") not in FEATURE_KINDS:
        raise _invalid("kind", f"Must be one of: {', '.join(FEATURE_KINDS)}.")
    if db.session.get(Feature, key) is not None:
        raise _invalid("key", f"A feature {key!r} exists already.")
    feature = Feature(key=key, kind=spec["kind"], description=spec.get("description"))
    db.session.add(feature)
    db.session.flush()
    audit.record(actor, "feature.created", "feature", key, None, snapshot(feature))
    return feature


def ensure_feature(spec: dict, actor: Actor) -> Feature:
    """The seed's way in: create the feature unless it exists (its kind is never changed here)."""
    return db.session.get(Feature, spec["key"]) or create_feature(spec, actor)


def snapshot(feature: Feature) -> dict:
    return {"key": feature.key, "kind": feature.kind, "description": feature.description}
