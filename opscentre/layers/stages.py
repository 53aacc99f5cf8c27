"""The colours of COR's five city stages; rain classes and zones reuse them by level."""

from __future__ import annotations

STAGE_COLOURS: dict[int, str] = {
    1: "#2e9e4f",  # normal — green
    2: "#e8c31a",  # mobilisation — yellow
    3: "#f28c1b",  # attention — orange
    4: "#e0362c",  # alert — red
    5: "#9b3fc4",  # crisis — purple
}


def stage_colour(level: int | None) -> str:
    return STAGE_COLOURS.get(int(level or 1), STAGE_COLOURS[1])
