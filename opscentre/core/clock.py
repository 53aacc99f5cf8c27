"""The simulator's clock: simulated time runs `speed` times faster than the wall clock.

Stored in Redis (keys.SIM_CLOCK) by `opscentre up`, so every worker agrees on it. Pure
functions here; the store reads and writes it.
"""

from __future__ import annotations

from typing import Any


def sim_now(clock: dict[str, Any] | None, wall_now: float) -> float:
    """Simulated unix time for a wall-clock time. Without a clock, simulated time = wall time."""
    if not clock:
        return wall_now
    speed = float(clock.get("speed", 1) or 1)
    return float(clock["sim_epoch"]) + speed * (wall_now - float(clock["wall_epoch"]))


def new_clock(previous: dict[str, Any] | None, wall_now: float, speed: float,
              scenario: str | None, seed: int | None) -> dict[str, Any]:
    """A clock for a fresh start. Simulated time never goes backwards across restarts: it resumes
    from where the previous run's clock had got to, or from now, whichever is later. A new
    scenario starts at the new epoch."""
    resume = max(wall_now, sim_now(previous, wall_now)) if previous else wall_now
    scenario_start = resume
    if previous and scenario and previous.get("scenario") == scenario and previous.get("scenario_start"):
        scenario_start = float(previous["scenario_start"])
    return {
        "wall_epoch": wall_now,
        "sim_epoch": resume,
        "speed": speed,
        "scenario": scenario or "",
        "scenario_start": scenario_start if scenario else "",
        "seed": "" if seed is None else seed,
    }
