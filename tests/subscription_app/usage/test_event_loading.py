"""A reported event is loaded without marshmallow's per-field machinery when it is plainly valid
(event_schemas.plain_event): the answer must be exactly EventSchema's, for every JSON value.

The fast path is only a shortcut: an event it does not take goes through the schema, which names
the field and the reason. These pin that the shortcut takes every valid event and nothing else.
"""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from core.schemas import BIGINT_MAX
from subscription_app.usage.event_schemas import EventSchema, plain_event
from subscription_app.usage.schemas import FEATURE_NAME

pytestmark = [pytest.mark.subscription]
EVENT = EventSchema()
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8))


def _fields(bound):
    """Per field: (values the schema takes, values it refuses), their edges included."""
    aware = st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
    naive = st.datetimes().map(lambda d: d.isoformat())
    return {
        "event_id": (st.text(min_size=1, max_size=255) | st.just("e" * 255),
                     st.just("") | st.just("e" * 256) | JSON_SCALARS),
        "customer": (st.integers(min_value=1, max_value=BIGINT_MAX) | st.sampled_from([1, BIGINT_MAX])
                     | st.text(min_size=1, max_size=255) | st.just("c" * 255) | st.just("42"),
                     st.sampled_from([0, -1, BIGINT_MAX + 1, "", "c" * 256, True, 1.0, None, [1], {}])),
        "feature": (st.from_regex(FEATURE_NAME) | st.just("api_calls"),
                    st.text(max_size=70) | st.sampled_from(["", "a b", "f" * 65, "api_calls\n\n"]) | JSON_SCALARS),
        "quantity": (st.integers(min_value=1, max_value=bound) | st.sampled_from([1, bound]),
                     st.sampled_from([0, -1, bound + 1, BIGINT_MAX + 1, True, False, 1.0, "1", None])),
        "timestamp": (aware | st.just("2026-12-01T09:00:00Z") | st.just("2026-12-01 09:00:00.5+01:00"),
                      naive | st.dates().map(str) | st.text(max_size=40) | JSON_SCALARS),
    }


def _events(bound):
    """Valid events with none, one or several fields made wrong, missing or extra; and non-objects."""
    fields = _fields(bound)
    valid = st.fixed_dictionaries({name: good for name, (good, _) in fields.items()})

    def one_wrong(event):
        return st.sampled_from(sorted(fields)).flatmap(lambda name: fields[name][1].map(
            lambda bad: {**event, name: bad}))

    def spoil(event):
        wrong = st.fixed_dictionaries({}, optional={name: bad for name, (_, bad) in fields.items()})
        missing = st.sets(st.sampled_from(sorted(fields)), max_size=2)
        extra = st.dictionaries(st.text(max_size=10), JSON_SCALARS, max_size=1)
        return st.tuples(wrong, missing, extra).map(
            lambda t: {**t[2], **{k: v for k, v in {**event, **t[0]}.items() if k not in t[1]}})

    return st.one_of(valid, valid.flatmap(one_wrong), valid.flatmap(one_wrong), valid.flatmap(spoil),
                     JSON_SCALARS, st.lists(JSON_SCALARS, max_size=2))


def _schema_answer(raw):
    try:
        return EVENT.load(raw)
    except ValidationError:
        return None


@pytest.fixture
def bound(app):
    with app.app_context():
        yield app.config["SETTINGS"].usage_max_delta


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_fast_path_answers_what_the_schema_answers(bound, data):
    raw = data.draw(_events(bound))
    answer = _schema_answer(raw)
    assert plain_event(raw, bound) == answer


def test_a_plain_event_takes_the_fast_path_and_a_bad_one_the_schema(bound):
    event = {"event_id": "evt_1", "customer": 42, "feature": "api_calls", "quantity": 1,
             "timestamp": "2026-12-01T09:00:00+00:00"}
    loaded = plain_event(event, bound)
    assert loaded is not None and loaded == EVENT.load(event)
    assert loaded["customer"] == ("id", 42) and loaded["timestamp"].utcoffset() is not None
    assert plain_event({**event, "customer": "42"}, bound)["customer"] == ("external_id", "42")
    for bad in ({**event, "quantity": bound + 1}, {**event, "quantity": True}, {**event, "customer": 0},
                {**event, "timestamp": "2026-12-01T09:00:00"}, {**event, "feature": "a b"}, {**event, "x": 1}):
        assert plain_event(bad, bound) is None
        with pytest.raises(ValidationError):
            EVENT.load(bad)
