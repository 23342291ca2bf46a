"""Pricing of usage: what a quantity used in a period costs (docs/usage-billing.md).

`rate` is pure: the included quantity is free, the rest ("billable") is priced per unit,
per started package of N units, or by graduated or volume tiers. All amounts are integer
minor units; the only rounding is a started package, which is charged whole.
"""
from __future__ import annotations

from core.errors import ApiError
from core.schemas import BIGINT_MAX

LIMIT_MODES = ("hard", "soft", "unlimited")
MODELS = ("per_unit", "package", "graduated", "volume")
FIELDS = ("included", "limit_mode", "model", "unit_amount_cents", "package_size", "tiers", "alert_percents")


def _tier_amount(units: int, tier: dict) -> int:
    return units * tier.get("unit_amount_cents", 0) + (tier.get("flat_amount_cents", 0) if units else 0)


def _graduated(billable: int, tiers: list[dict]) -> tuple[int, list[dict]]:
    amount, lower, detail = 0, 0, []
    for tier in tiers:
        upper = tier.get("up_to")
        units = max(0, min(billable, upper if upper is not None else billable) - lower)
        cost = _tier_amount(units, tier)
        detail.append({"up_to": upper, "quantity": units, "amount_cents": cost})
        amount += cost
        if upper is None or billable <= upper:
            break
        lower = upper
    return amount, detail


def _volume(billable: int, tiers: list[dict]) -> tuple[int, list[dict]]:
    if billable == 0:
        return 0, []
    tier = next(t for t in tiers if t.get("up_to") is None or billable <= t["up_to"])
    cost = _tier_amount(billable, tier)
    return cost, [{"up_to": tier.get("up_to"), "quantity": billable, "amount_cents": cost}]


def rate(quantity: int, included: int, pricing: dict | None) -> tuple[int, int, dict]:
    """(billable quantity, amount in minor units, detail) for `quantity` used in one period."""
    if not pricing or pricing.get("limit_mode") != "soft":
        return 0, 0, {"model": None}  # hard and unlimited features bill no overage
    billable = max(0, int(quantity) - int(included))
    model = pricing.get("model", "per_unit")
    if model == "per_unit":
        return billable, billable * pricing["unit_amount_cents"], {"model": model}
    if model == "package":
        packages = -(-billable // pricing["package_size"])  # a started package is charged whole
        return billable, packages * pricing["unit_amount_cents"], {"model": model, "packages": packages}
    amount, tiers = (_graduated if model == "graduated" else _volume)(billable, pricing["tiers"])
    return billable, amount, {"model": model, "tiers": tiers}


# -- validation of the operator's input ---------------------------------------------------

def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, f"Invalid {field}: {message}", errors={"json": {field: [message]}})


def _whole(value, minimum: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= BIGINT_MAX


def _check_tiers(field: str, tiers) -> None:
    if not isinstance(tiers, list) or not 1 <= len(tiers) <= 20:
        raise _invalid(field, "Must be a list of 1 to 20 tiers.")
    previous = 0
    for i, tier in enumerate(tiers):
        name = f"{field}.{i}"
        if not isinstance(tier, dict) or set(tier) - {"up_to", "unit_amount_cents", "flat_amount_cents"}:
            raise _invalid(name, "A tier takes up_to, unit_amount_cents and flat_amount_cents only.")
        last = i == len(tiers) - 1
        up_to = tier.get("up_to")
        if last and up_to is not None:
            raise _invalid(f"{name}.up_to", "The last tier must have up_to null (no upper bound).")
        if not last and (not _whole(up_to, previous + 1)):
            raise _invalid(f"{name}.up_to", "Must be a whole number above the previous tier's up_to.")
        for key in ("unit_amount_cents", "flat_amount_cents"):
            if not _whole(tier.get(key, 0)):
                raise _invalid(f"{name}.{key}", "Must be a whole number of minor units, 0 or more.")
        previous = up_to or previous


def _check_price(field: str, spec: dict) -> None:
    model = spec.get("model", "per_unit")
    if model not in MODELS:
        raise _invalid(f"{field}.model", f"Must be one of: {', '.join(MODELS)}.")
    if model in ("per_unit", "package") and not _whole(spec.get("unit_amount_cents")):
        raise _invalid(f"{field}.unit_amount_cents", "Must be a whole number of minor units, 0 or more.")
    if model == "package" and not _whole(spec.get("package_size"), 1):
        raise _invalid(f"{field}.package_size", "Must be a whole number of units, 1 or more.")
    if model in ("graduated", "volume"):
        _check_tiers(f"{field}.tiers", spec.get("tiers"))


def _check_alerts(field: str, percents) -> None:
    if percents is None:
        return
    if (not isinstance(percents, list) or not 1 <= len(percents) <= 10
            or not all(_whole(p, 1) and p <= 1000 for p in percents) or len(set(percents)) != len(percents)):
        raise _invalid(field, "Must be a list of 1 to 10 distinct whole percents of included, 1 to 1000.")


def check_feature(field: str, spec, kind: str | None) -> dict:
    """One feature's pricing, normalised; a 422 naming `usage_pricing.<key>.<field>` otherwise."""
    if kind is None:
        raise _invalid(field, "Unknown feature: create it first (POST /v1/admin/features).")
    if kind != "metered":
        raise _invalid(field, "Only a metered feature is priced; a flag is on or off.")
    if not isinstance(spec, dict):
        raise _invalid(field, "Must be an object.")
    unknown = sorted(set(spec) - set(FIELDS))
    if unknown:
        raise _invalid(f"{field}.{unknown[0]}", "Unknown field.")
    if not _whole(spec.get("included", 0)):
        raise _invalid(f"{field}.included", "Must be a whole number of units, 0 or more.")
    mode = spec.get("limit_mode", "hard")
    if mode not in LIMIT_MODES:
        raise _invalid(f"{field}.limit_mode", f"Must be one of: {', '.join(LIMIT_MODES)}.")
    if mode == "soft":
        _check_price(field, spec)
    _check_alerts(f"{field}.alert_percents", spec.get("alert_percents"))
    return {"included": spec.get("included", 0), "limit_mode": mode, "model": spec.get("model", "per_unit"),
            "unit_amount_cents": spec.get("unit_amount_cents", 0), "package_size": spec.get("package_size"),
            "tiers": spec.get("tiers"), "alert_percents": spec.get("alert_percents")}


def check_all(pricing, kinds: dict[str, str]) -> dict[str, dict]:
    if not isinstance(pricing, dict):
        raise _invalid("usage_pricing", "Must be an object of feature key to pricing.")
    return {key: check_feature(f"usage_pricing.{key}", spec, kinds.get(key)) for key, spec in pricing.items()}
