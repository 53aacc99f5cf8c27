"""Mutated payloads for `opscentre drill fuzz`: pure functions of (seed payload, random.Random).

Each mutation returns (name, payload). JSON seeds are mutated as documents (a node picked at
random is truncated, retyped, blown up, nested, dropped or duplicated) and as bytes (cut,
flipped, re-encoded); XML seeds by their leaf elements and as bytes; protobuf seeds (GTFS-rt)
as messages (fields set to extremes, entities dropped or repeated), as their proto3-JSON
rendering (which the parser also reads) and as bytes. The same seed and random seed give the
same payloads, so a crash found once is found again.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

import orjson

# Raw JSON tokens no encoder writes: huge, tiny and non-finite numbers (orjson refuses the
# non-finite ones; a parser must say so, not crash).
RAW_NUMBERS = ("1e999", "-1e999", "1" + "0" * 400, "9223372036854775808", "-9223372036854775809",
               "1e-400", "-0", "NaN", "Infinity", "-Infinity", "1.7976931348623157e308")
# The same as values an encoder does write: strings a parser may hand to float() or int().
ODD_VALUES: tuple[Any, ...] = ("NaN", "nan", "Infinity", "-inf", "1e999", "1" + "0" * 400, "", " ", "ND",
                               "12,5", "0x1F", "null", "true", 1e308, -1e308, 2**63 - 1, -(2**63), 0, -1,
                               True, False, None, [], {}, [None], {"": None}, "São Gonçalo ☔", "\u0000",
                               "2026-13-45T25:61:00", "9999-12-31T23:59:59Z", "0000-00-00", "1e308",
                               "x" * 100_000)
ENCODINGS = ("latin-1", "invalid-utf8", "bom", "utf-16", "nul")
DEPTHS = (64, 600, 5000)
PLACEHOLDER = "\u0001fuzz\u0001"

Mutation = Callable[[bytes, random.Random], tuple[str, bytes]]


# ---- bytes (any format) -------------------------------------------------------------------


def truncated(payload: bytes, rng: random.Random) -> tuple[str, bytes]:
    return "truncated", payload[:rng.randrange(0, max(1, len(payload)))]


def bytes_flipped(payload: bytes, rng: random.Random) -> tuple[str, bytes]:
    data = bytearray(payload)
    for _ in range(rng.randint(1, 8)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    return "bytes flipped", bytes(data)


def encoded(payload: bytes, rng: random.Random) -> tuple[str, bytes]:
    how = rng.choice(ENCODINGS)
    text = payload.decode("utf-8", "replace")
    if how == "latin-1":  # non-ASCII text written as latin-1 while the payload says nothing (or UTF-8)
        text = _with_accents(text, rng)
        return "encoding: latin-1", text.encode("latin-1", "replace")
    if how == "invalid-utf8":
        at = rng.randrange(len(payload) + 1)
        return "encoding: invalid UTF-8", payload[:at] + rng.choice((b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80",
                                                                      b"\xf8\x88\x80\x80\x80", b"\x80")) + payload[at:]
    if how == "bom":
        return "encoding: BOM", b"\xef\xbb\xbf" + payload
    if how == "utf-16":
        return "encoding: UTF-16", text.encode("utf-16")
    at = rng.randrange(len(payload) + 1)
    return "encoding: NUL bytes", payload[:at] + b"\x00" * rng.randint(1, 4) + payload[at:]


def _with_accents(text: str, rng: random.Random) -> str:
    strings = list(re.finditer(r'"([A-Za-z ]{3,})"|>([A-Za-z ]{3,})<', text))
    if not strings:
        return text + " São João"
    m = rng.choice(strings)
    start, end = m.span(1) if m.group(1) else m.span(2)
    return text[:start] + "Jacarepaguá/Maracanã ção" + text[end:]


BYTE_MUTATIONS: tuple[Mutation, ...] = (truncated, bytes_flipped, encoded)


# ---- JSON documents -----------------------------------------------------------------------


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    """Every node's path in the document (keys and indexes), the root included."""
    out = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node[:20]):  # long lists: their first items are enough
            out += _paths(value, path + (i,))
    return out


def _get(node: Any, path: tuple) -> Any:
    for step in path:
        node = node[step]
    return node


def _set(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _leaf_paths(doc: Any) -> list[tuple]:
    return [p for p in _paths(doc) if p and not isinstance(_get(doc, p), (dict, list))] or [()]


def _dumps_with_raw(doc: Any, raw: str) -> bytes:
    """The document with the placeholder string written as the raw token `raw`."""
    return orjson.dumps(doc).replace(orjson.dumps(PLACEHOLDER), raw.encode())


def json_mutations(seed: bytes) -> list[Mutation]:
    def wrong_type(payload: bytes, rng: random.Random) -> tuple[str, bytes]:
        d = orjson.loads(payload)
        path = rng.choice(_paths(d))
        value = rng.choice(ODD_VALUES)
        return f"wrong type ({type(value).__name__})", orjson.dumps(_set(d, path, value))

    def huge_number(payload: bytes, rng: random.Random) -> tuple[str, bytes]:
        d = orjson.loads(payload)
        numbers = [p for p in _leaf_paths(d) if p and isinstance(_get(d, p), (int, float)) and not isinstance(_get(d, p), bool)]
        path = rng.choice(numbers or _leaf_paths(d))
        raw = rng.choice(RAW_NUMBERS)
        kind = "NaN/Infinity" if raw.lstrip("-") in ("NaN", "Infinity") else "huge number"
        return kind, _dumps_with_raw(_set(d, path, PLACEHOLDER), raw)

    def nested(payload: bytes, rng: random.Random) -> tuple[str, bytes]:
        d = orjson.loads(payload)
        path = rng.choice(_paths(d))
        depth = rng.choice(DEPTHS)
        opener, closer = rng.choice((("[", "]"), ('{"a":', "}")))
        return f"deep nesting ({depth})", _dumps_with_raw(_set(d, path, PLACEHOLDER), opener * depth + "1" + closer * depth)

    def dropped(payload: bytes, rng: random.Random) -> tuple[str, bytes]:
        d = orjson.loads(payload)
        keyed = [p for p in _paths(d) if p and isinstance(_get(d, p[:-1]), (dict, list))]
        if not keyed:
            return "dropped key", b"{}"
        path = rng.choice(keyed)
        del _get(d, path[:-1])[path[-1]]
        return "dropped key" if isinstance(path[-1], str) else "dropped item", orjson.dumps(d)

    def duplicated(payload: bytes, rng: random.Random) -> tuple[str, bytes]:
        d = orjson.loads(payload)
        lists = [p for p in _paths(d) if isinstance(_get(d, p), list) and _get(d, p)]
        dicts = [p for p in _paths(d) if isinstance(_get(d, p), dict) and _get(d, p)]
        if not lists and not dicts:
            return "duplicated item", orjson.dumps([d, d])
        if lists and (not dicts or rng.random() < 0.5):
            items = _get(d, rng.choice(lists))
            i = rng.randrange(len(items))
            items.insert(i, orjson.loads(orjson.dumps(items[i])))
            return "duplicated item", orjson.dumps(d)
        obj = _get(d, rng.choice(dicts))
        key = rng.choice(list(obj))
        # the same key twice in one object (JSON allows it; the last one wins in most readers)
        text = orjson.dumps(d)
        member = orjson.dumps(key) + b":"
        at = text.find(member)
        value = rng.choice(ODD_VALUES[:24])
        return "duplicated key", text[:at] + member + orjson.dumps(value) + b"," + text[at:]

    return [wrong_type, huge_number, nested, dropped, duplicated]


# ---- XML documents ------------------------------------------------------------------------

LEAF = re.compile(rb"<([A-Za-z_][\w.:-]*)(\s[^<>]*)?>([^<>]*)</\1>")


def xml_mutations(seed: bytes) -> list[Mutation]:
    if not LEAF.search(seed):
        return []

    def leaf(payload: bytes, rng: random.Random) -> re.Match:
        return rng.choice(list(LEAF.finditer(payload)) or list(LEAF.finditer(seed)))

    def wrong_text(payload: bytes, rng: random.Random) -> tuple[str, bytes]:
        m = leaf(payload, rng)
        value = rng.choice(ODD_VALUES + RAW_NUMBERS)
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace("\u0000", "")
        kind = "NaN/Infinity" if text.lstrip("-").lower() in ("nan", "infinity", "inf") else "wrong type"
        return f"{kind} (text)", m.string[:m.start(3)] + text.encode() + m.string[m.end(3):]

    def huge_number(payload: bytes, rng: random.Random) -> tuple[str, bytes]:
        leaves = list(LEAF.finditer(payload)) or list(LEAF.finditer(seed))
        m = rng.choice([m for m in leaves if re.search(rb"\d", m.group(3))] or leaves)
        raw = rng.choice(RAW_NUMBERS).encode()
        body = re.sub(rb"-?\d+(\.\d+)?", lambda _: raw, m.group(3), count=rng.randint(1, 3))
        return "huge number", m.string[:m.start(3)] + body + m.string[m.end(3):]

    def nested(payload: bytes, rng: random.Random) -> tuple[str, bytes]:
        m = leaf(payload, rng)
        depth = rng.choice(DEPTHS)
        return f"deep nesting ({depth})", m.string[:m.start(3)] + b"<a>" * depth + b"1" + b"</a>" * depth + m.string[m.end(3):]

    def dropped(payload: bytes, rng: random.Random) -> tuple[str, bytes]:
        m = leaf(payload, rng)
        return "dropped element", m.string[:m.start()] + m.string[m.end():]

    def duplicated(payload: bytes, rng: random.Random) -> tuple[str, bytes]:
        m = leaf(payload, rng)
        return "duplicated element", m.string[:m.end()] + m.group(0) + m.string[m.end():]

    def entity_bomb(payload: bytes, rng: random.Random) -> tuple[str, bytes]:
        doctype = (b'<!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
                   b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>')
        m = leaf(seed, rng)
        body = seed[:m.start(3)] + b"&c;" + seed[m.end(3):]
        start = body.find(b"?>") + 2 if body.startswith(b"<?xml") else 0
        return "entity expansion", body[:start] + doctype + body[start:]

    return [wrong_text, huge_number, nested, dropped, duplicated, entity_bomb]


# ---- protobuf (GTFS-realtime FeedMessage) -------------------------------------------------

PROTO_EXTREMES: tuple[Any, ...] = (float("nan"), float("inf"), -float("inf"), 3.4e38, -3.4e38, 0.0, 1e-45)


def protobuf_mutations(seed: bytes) -> list[Mutation]:
    from google.protobuf import json_format
    from google.transit import gtfs_realtime_pb2 as rt

    def message() -> Any:
        m = rt.FeedMessage()
        m.ParseFromString(seed)
        return m

    def extreme_field(payload: bytes, rng: random.Random) -> tuple[str, bytes]:
        m = message()
        if not m.entity:
            return "empty", b""
        vehicle = rng.choice(m.entity).vehicle
        which = rng.choice(("latitude", "longitude", "bearing", "speed", "timestamp", "header_timestamp"))
        if which in ("timestamp", "header_timestamp"):
            value = rng.choice((0, 2**64 - 1, 2**63, 1, 4102444800))
            (m.header if which == "header_timestamp" else vehicle).timestamp = value
            return "huge number (timestamp)", m.SerializePartialToString()
        value = rng.choice(PROTO_EXTREMES)
        setattr(vehicle.position, which, value)
        kind = "NaN/Infinity" if value != value or abs(value) == float("inf") else "huge number"
        return f"{kind} ({which})", m.SerializePartialToString()

    def dropped_field(payload: bytes, rng: random.Random) -> tuple[str, bytes]:
        m = message()
        if rng.random() < 0.3 or not m.entity:
            m.header.ClearField(rng.choice(("gtfs_realtime_version", "timestamp", "incrementality")))
            return "dropped key (header)", m.SerializePartialToString()
        entity = rng.choice(m.entity)
        target = rng.choice((entity, entity.vehicle, entity.vehicle.trip, entity.vehicle.vehicle))
        fields = [f.name for f, _ in target.ListFields()]
        if fields:
            target.ClearField(rng.choice(fields))
        return "dropped key", m.SerializePartialToString()

    def duplicated_entity(payload: bytes, rng: random.Random) -> tuple[str, bytes]:
        m = message()
        if m.entity:
            m.entity.add().CopyFrom(rng.choice(m.entity))
        return "duplicated item", m.SerializePartialToString()

    def nested_groups(payload: bytes, rng: random.Random) -> tuple[str, bytes]:
        depth = rng.choice(DEPTHS)
        # an unknown field (number 99) as nested length-delimited messages / start-groups
        if rng.random() < 0.5:
            inner = b""
            for _ in range(min(depth, 600)):
                inner = b"\x9a\x06" + _varint(len(inner)) + inner  # field 99, wire type 2
            return f"deep nesting ({depth})", seed + inner
        return f"deep nesting ({depth})", seed + b"\x9b\x06" * depth + b"\x9c\x06" * depth  # groups

    rendering = orjson.dumps(orjson.loads(json_format.MessageToJson(message())))
    as_json = json_mutations(rendering)

    def json_rendering(payload: bytes, rng: random.Random) -> tuple[str, bytes]:
        name, mutated = rng.choice(as_json)(rendering, rng)
        return f"{name} (JSON rendering)", mutated

    return [extreme_field, dropped_field, duplicated_entity, nested_groups, json_rendering]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mutated(seed: bytes, fmt: str, count: int, rng: random.Random):
    """`count` (name, payload) pairs: one structured mutation (JSON, XML or protobuf), two or
    three of them in a row (a third of the time), or one on the bytes (a quarter of the time)."""
    structured = {"json": json_mutations, "xml": xml_mutations, "protobuf": protobuf_mutations}[fmt](seed)
    for _ in range(count):
        if rng.random() < 0.25 or not structured:
            yield rng.choice(BYTE_MUTATIONS)(seed, rng)
            continue
        names, payload = [], seed
        for _ in range(rng.choice((1, 1, 2, 3)) if fmt != "protobuf" else 1):
            name, payload = rng.choice(structured)(payload, rng)
            names.append(name)
            if name.startswith(("deep nesting", "huge number", "NaN", "entity")):
                break  # the payload may no longer parse as the format: mutate no further
        yield " + ".join(names), payload
