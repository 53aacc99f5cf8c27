import math

from hypothesis import given, strategies as st

from opscentre.core.models import KINDS, Entity, ObservationBatch, ParseResult
from opscentre.core.validate import MAX_FUTURE_S, validate

NOW = 1_800_000_000.0


def gauge(i):
    return Entity(entity_id=f"g{i}", entity_type="rain_gauge", source="t",
                  geometry={"type": "Point", "coordinates": [-43.2, -22.9]})


def batch(values, ids=None, times=None, kind="rain_mm"):
    ids = ids or [f"g{i}" for i in range(len(values))]
    times = times or [NOW] * len(values)
    return ObservationBatch(source="t", kind=kind, entity_ids=ids, values=values, observed_at=times)


def test_valid_readings_pass_untouched():
    result = validate(ParseResult(entities=[gauge(0), gauge(1)], batches=[batch([0.0, 3.5])]), NOW)
    assert result.observation_count == 2 and result.rejected == []


def test_bad_readings_are_rejected_with_reasons_and_the_rest_are_kept():
    result = validate(ParseResult(
        entities=[gauge(i) for i in range(5)],
        batches=[batch([1.0, -4.0, math.nan, 2.0, 7.0], times=[NOW, NOW, NOW, NOW + MAX_FUTURE_S + 60, NOW])],
    ), NOW)
    assert result.batches[0].entity_ids == ["g0", "g4"]
    reasons = {r.entity_id: r.reason for r in result.rejected}
    assert "plausible range" in reasons["g1"]
    assert "not a finite number" in reasons["g2"]
    assert "future" in reasons["g3"]


def test_a_duplicate_entity_keeps_its_newest_reading():
    result = validate(ParseResult(entities=[gauge(0)], batches=[
        batch([1.0, 9.0, 2.0], ids=["g0", "g0", "g0"], times=[NOW - 60, NOW, NOW - 30])]), NOW)
    assert result.batches[0].values == [9.0]
    assert [r.reason for r in result.rejected] == ["duplicate reading for this entity in the same payload"] * 2


def test_a_reading_for_an_entity_the_payload_does_not_describe_is_rejected():
    result = validate(ParseResult(entities=[gauge(0)], batches=[batch([1.0, 1.0], ids=["g0", "ghost"])]), NOW)
    assert result.batches[0].entity_ids == ["g0"]
    assert result.rejected[0].entity_id == "ghost"


@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**9, 10**9)),
                min_size=1, max_size=50),
       st.sampled_from(sorted(KINDS)))
def test_every_reading_is_either_stored_or_rejected_never_lost(values, kind):
    values = [float(v) for v in values]
    ids = [f"g{i % 7}" for i in range(len(values))]
    entities = [gauge(i) for i in range(7)]
    result = validate(ParseResult(entities=entities, batches=[batch(values, ids=ids, kind=kind)]), NOW)
    assert result.observation_count + len(result.rejected) == len(values)
    spec = KINDS[kind]
    for b in result.batches:
        assert all(math.isfinite(v) and spec.minimum <= v <= spec.maximum for v in b.values)
        assert len(set(b.entity_ids)) == len(b.entity_ids)


def test_an_entity_description_is_validated_once_until_it_changes():
    from opscentre.core.models import EntityValidator

    validator = EntityValidator("t")
    first = validator({"entity_id": "g1", "entity_type": "rain_gauge", "name": "first"})
    assert validator({"entity_id": "g1", "entity_type": "rain_gauge", "name": "first"}) is first
    renamed = validator({"entity_id": "g1", "entity_type": "rain_gauge", "name": "renamed"})
    assert renamed is not first and renamed.name == "renamed"
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        validator({"entity_id": "g2", "entity_type": "spaceship"})
    with pytest.raises(ValidationError):  # a refused description is not remembered as valid
        validator({"entity_id": "g2", "entity_type": "spaceship"})


def test_readings_for_an_entity_of_another_source_are_rejected_not_mixed():
    from opscentre.core.validate import reject_foreign

    result = ParseResult(entities=[gauge(0), gauge(1)], batches=[batch([1.0, 2.0])])
    checked = reject_foreign(result, {"g0": "alerta_rio", "g1": "t"})
    assert checked.batches[0].entity_ids == ["g1"]
    assert checked.rejected[0].entity_id == "g0" and "alerta_rio" in checked.rejected[0].reason
