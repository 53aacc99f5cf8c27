"""Process-level tuning shared by the worker and the benchmark (so the bench measures what runs)."""

import gc

# A poll decodes a few hundred thousand small JSON objects. With CPython's default gen-0
# threshold (700) that triggers hundreds of collections per poll, each walking the long-lived
# objects (zones, caches); measured here: parse time almost halves with a larger threshold.
GEN0_THRESHOLD = 100_000


def tune_gc_for_bulk_parsing() -> None:
    """Call once start-up imports are done: freeze what exists, collect young objects less often."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
