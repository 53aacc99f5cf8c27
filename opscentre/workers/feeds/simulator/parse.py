"""parse: the simulator's payload -> entities, observation batches and rejections (pure).

A payload that is not a JSON object with `"simulated": true` and `entities` / `series` lists
is refused whole (ParseError). Inside it, a bad item only costs itself: an entity that fails
validation is skipped and its readings are rejected; a series with an unknown kind or columns
that do not line up is rejected entity by entity; a series with a few unusable values keeps
the others.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from opscentre.core.errors import ParseError
from opscentre.core.models import (
    KINDS,
    Entity,
    EntityValidator,
    ForecastSeries,
    ObservationBatch,
    ParseResult,
    Rejection,
)
from opscentre.workers.feeds.base import FeedContext
from opscentre.workers.feeds.payloads import load_json_object

SOURCE = "simulator"
# Every payload repeats the same ~2,200 entity descriptions; validate each distinct one once.
_validate_entity = EntityValidator(SOURCE)


def parse(payload: bytes, ctx: FeedContext | None = None) -> ParseResult:
    head, _, entities_document = payload.partition(b"\n")
    data = _load(head)
    if isinstance(data.get("entities"), list):  # everything in one document
        entities, bad_entities = _entities(data["entities"])
    else:
        entities, bad_entities = _entities_by_digest(data.get("entities_digest"), entities_document)
    batches: list[ObservationBatch] = []
    rejected: list[Rejection] = []
    for index, item in enumerate(data["series"]):
        batch, refused = _batch(index, item)
        rejected.extend(refused)
        if batch is not None:
            batch, refused = _without_bad_entities(batch, bad_entities)
            rejected.extend(refused)
            if len(batch):
                batches.append(batch)
    forecasts = _forecasts(data.get("forecasts"), {e.entity_id for e in entities}, rejected)
    return ParseResult(entities=entities, batches=batches, forecasts=forecasts, rejected=rejected)


def _forecasts(items: Any, known: set[str], rejected: list[Rejection]) -> list[ForecastSeries]:
    """`forecasts`: per item a kind, issued_at, shared step times and one row of values per entity."""
    if items is None:
        return []
    if not isinstance(items, list):
        rejected.append(Rejection(entity_id="?", kind="?", reason="'forecasts' is not a list"))
        return []
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("entity_ids"), list) \
                or not isinstance(item.get("values"), list) or len(item["entity_ids"]) != len(item["values"]):
            rejected.append(Rejection(entity_id="?", kind=str(item.get("kind") if isinstance(item, dict) else "?"),
                                      reason=f"forecasts[{index}] is not a forecast block"))
            continue
        for entity_id, row in zip(item["entity_ids"], item["values"]):
            if entity_id not in known:
                rejected.append(Rejection(entity_id=str(entity_id), kind=str(item.get("kind")),
                                          reason="forecast for an entity not described in the payload"))
                continue
            try:
                out.append(ForecastSeries(source=SOURCE, entity_id=entity_id, kind=item.get("kind"),
                                          issued_at=item.get("issued_at"), times=item.get("times"), values=row))
            except ValidationError as exc:
                rejected.append(Rejection(entity_id=str(entity_id), kind=str(item.get("kind")),
                                          reason=f"forecast refused: {_first_error(exc)}"))
    return out


def _load(payload: bytes) -> dict[str, Any]:
    data = load_json_object(payload, "simulator")
    if data.get("simulated") is not True:
        raise ParseError('simulator payload lacks "simulated": true (refusing data not marked simulated)')
    if not isinstance(data.get("series"), list):
        raise ParseError("simulator payload has no 'series' list")
    if not isinstance(data.get("entities"), list) and not isinstance(data.get("entities_digest"), str):
        raise ParseError("simulator payload has neither an 'entities' list nor an 'entities_digest'")
    return data


# digest -> (entities, refused ids): the entity list of a configuration, decoded once.
_BY_DIGEST: dict[str, tuple[list[Entity], dict[str, str]]] = {}


def _entities_by_digest(digest: str, document: bytes) -> tuple[list[Entity], dict[str, str]]:
    known = _BY_DIGEST.get(digest)
    if known is not None:
        return known
    from opscentre.workers.feeds.simulator.payload import entities_digest

    if not document.strip():
        raise ParseError("simulator payload has no entity list after its readings (second line)")
    if entities_digest(document) != digest:
        raise ParseError("simulator entity list does not match its digest (truncated or altered payload)")
    try:
        items = orjson.loads(document)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"simulator entity list is not JSON: {exc}")
    if not isinstance(items, list):
        raise ParseError("simulator entity list must be a JSON list")
    result = _entities(items)
    if len(_BY_DIGEST) >= 16:
        _BY_DIGEST.clear()
    _BY_DIGEST[digest] = result
    return result


def decode_payload(payload: bytes) -> dict[str, Any]:
    """The whole payload as one dict (readings and entity list), for tools and tests."""
    head, _, entities_document = payload.partition(b"\n")
    data = orjson.loads(head)
    if entities_document.strip():
        data["entities"] = orjson.loads(entities_document)
    return data


def _entities(items: list[Any]) -> tuple[list[Entity], dict[str, str]]:
    """Valid entities, and the reason for each entity id that was refused."""
    entities: list[Entity] = []
    bad: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict):
            continue  # nothing to name it by; its readings are caught as undescribed later
        try:
            entities.append(_validate_entity(item))
        except ValidationError as exc:
            entity_id = item.get("entity_id")
            if isinstance(entity_id, str):
                bad[entity_id] = f"entity refused: {_first_error(exc)}"
    return entities, bad


def _batch(index: int, item: Any) -> tuple[ObservationBatch | None, list[Rejection]]:
    """One series as a validated batch; what cannot be used becomes rejections."""
    if not isinstance(item, dict):
        return None, [Rejection(entity_id="?", kind="?", reason=f"series[{index}] is not an object")]
    kind = item.get("kind")
    kind_name = kind if isinstance(kind, str) else "?"
    ids = item.get("entity_ids")
    if not isinstance(ids, list) or not all(isinstance(e, str) for e in ids):
        reason = f"series[{index}]: entity_ids is not a list of strings"
        return None, [Rejection(entity_id="?", kind=kind_name, reason=reason)]
    if kind not in KINDS:
        return None, _reject_all(ids, kind_name, f"unknown kind {kind!r}")
    values, times = item.get("values"), item.get("observed_at")
    if not isinstance(values, list) or not isinstance(times, list) or not len(values) == len(times) == len(ids):
        return None, _reject_all(ids, kind, "entity_ids, values and observed_at do not line up")
    fields = {"source": SOURCE, "kind": kind, "simulated": True}
    try:
        columns = {"entity_ids": ids, "values": values, "observed_at": times}
        return ObservationBatch.model_validate({**fields, **columns}), []
    except ValidationError:
        pass
    # Some readings are unusable: keep the others, one by one.
    keep_ids, keep_values, keep_times, refused = [], [], [], []
    for entity_id, value, at in zip(ids, values, times):
        if _is_number(value) and _is_number(at):
            keep_ids.append(entity_id)
            keep_values.append(float(value))
            keep_times.append(float(at))
        else:
            refused.append(Rejection(entity_id=entity_id, kind=kind, reason="value or observed_at is not a number"))
    columns = {"entity_ids": keep_ids, "values": keep_values, "observed_at": keep_times}
    batch = ObservationBatch.model_validate({**fields, **columns})
    return batch, refused


def _without_bad_entities(batch: ObservationBatch, bad: dict[str, str]) -> tuple[ObservationBatch, list[Rejection]]:
    if not bad or not any(e in bad for e in batch.entity_ids):
        return batch, []
    rows = [i for i, e in enumerate(batch.entity_ids) if e not in bad]
    refused = [Rejection(entity_id=e, kind=batch.kind, reason=bad[e]) for e in batch.entity_ids if e in bad]
    kept = ObservationBatch.model_construct(
        source=batch.source,
        kind=batch.kind,
        entity_ids=[batch.entity_ids[i] for i in rows],
        values=[batch.values[i] for i in rows],
        observed_at=[batch.observed_at[i] for i in rows],
        simulated=batch.simulated,
    )
    return kept, refused


def _reject_all(ids: list[str], kind: str, reason: str) -> list[Rejection]:
    return [Rejection(entity_id=entity_id, kind=kind, reason=reason) for entity_id in ids]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]
