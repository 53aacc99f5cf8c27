"""Reading a feed's raw payload: the failures every JSON feed meets, with the same clear reasons."""

from __future__ import annotations

from typing import Any

import orjson

from opscentre.core.errors import ParseError


def load_json_object(payload: bytes, what: str) -> dict[str, Any]:
    """The payload as a JSON object, or ParseError naming `what` and why: empty, an HTML page
    (a maintenance or error page served with status 200), not JSON (truncated?), not an object."""
    text = payload.strip() if isinstance(payload, (bytes, bytearray)) else b""
    if not text:
        raise ParseError(f"{what} payload is empty")
    if text[:1] == b"<":
        raise ParseError(f"{what} payload is an HTML/XML page, not JSON (maintenance page or wrong URL?)")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"{what} payload is not JSON (truncated?): {exc}")
    if not isinstance(data, dict):
        raise ParseError(f"{what} payload must be a JSON object, got {type(data).__name__}")
    return data
