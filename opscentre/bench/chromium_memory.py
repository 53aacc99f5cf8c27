"""Where a Chromium process's memory is: a memory-infra dump (the same source as chrome://tracing's
memory view) through the DevTools protocol, summed over the browser's renderer processes and,
separately, its GPU process.

Allocators kept: the top-level ones (malloc, partition_alloc, v8, blink_gc, skia, cc, gpu,
discardable, web_cache, shared_memory, font_caches...) and the second level of v8 and blink_gc
(`v8/main` is the page's heap, `v8/workers` the Web Workers' — maplibre parses GeoJSON in workers).
Process totals: `resident_set_bytes` and `private_footprint_bytes`. All in MB."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

MB = 2**20
SECOND_LEVEL = ("v8/", "blink_gc/")
DUMP_TIMEOUT_S = 30.0
LEVEL = "background"  # (sizes per allocator, in under a second; "light" and "detailed" take seconds)


def memory_breakdown(browser, page) -> dict[str, dict[str, float]]:
    """{"renderer": {allocator: MB}, "gpu": {...}}. `page` pumps Playwright's event loop meanwhile."""
    cdp = browser.new_browser_cdp_session()
    events: list[dict[str, Any]] = []
    done: dict[str, Any] = {}
    cdp.on("Tracing.dataCollected", lambda params: events.extend(params["value"]))
    cdp.on("Tracing.tracingComplete", lambda params: done.setdefault("complete", params))
    try:
        cdp.send("Tracing.start", {"traceConfig": {"includedCategories": ["disabled-by-default-memory-infra"],
                                                   "memoryDumpConfig": {"triggers": []}},
                                   "transferMode": "ReportEvents"})
        cdp.send("Tracing.requestMemoryDump", {"levelOfDetail": LEVEL})
        cdp.send("Tracing.end")
        deadline = time.monotonic() + DUMP_TIMEOUT_S
        while "complete" not in done and time.monotonic() < deadline:
            page.wait_for_timeout(100)
    finally:
        cdp.detach()
    return summarise(events)


def summarise(events: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Trace events -> {"renderer": {...}, "gpu": {...}} (pure)."""
    kinds = {e["pid"]: _kind(e.get("args", {}).get("name", "")) for e in events
             if e.get("ph") == "M" and e.get("name") == "process_name"}
    out: dict[str, dict[str, float]] = {"renderer": defaultdict(float), "gpu": defaultdict(float)}
    for event in events:
        kind = kinds.get(event.get("pid"))
        if event.get("ph") != "v" or kind is None:
            continue
        dumps = event.get("args", {}).get("dumps", {})
        for name, value in (dumps.get("process_totals") or {}).items():
            if name in ("resident_set_bytes", "private_footprint_bytes") and isinstance(value, str):
                out[kind][name] += int(value, 16) / MB
        for name, node in (dumps.get("allocators") or {}).items():
            if "/" in name and not (name.startswith(SECOND_LEVEL) and name.count("/") == 1):
                continue
            size = ((node.get("attrs") or {}).get("size") or {}).get("value")
            if size:
                out[kind][name] += int(size, 16) / MB
    return {kind: {k: round(v, 2) for k, v in sorted(sizes.items())} for kind, sizes in out.items()}


def _kind(process_name: str) -> str | None:
    if process_name == "Renderer":
        return "renderer"
    if process_name == "GPU Process":
        return "gpu"
    return None
