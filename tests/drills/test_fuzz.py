"""`opscentre drill fuzz`: mutated payloads of every feed through parse -> validate -> store in a
real Redis; the shortened run as CI runs it, and proof that the drill sees a crash and a failed
poll that changed the stored data."""

from __future__ import annotations

import random

import orjson

from opscentre.core.errors import ParseError
from opscentre.drills import fuzz
from opscentre.drills.fuzz_mutations import mutated
from opscentre.workers.pipeline import store_payload
from tests.cli_helpers import clean_env, opscentre


def test_fuzz_shortened_finds_no_crash_and_keeps_the_last_good_state(tmp_path):
    run = opscentre("drill", "fuzz", "--json", "--short", env=clean_env(OPSCENTRE_DATA_DIR=str(tmp_path)),
                    timeout=300)
    assert run.returncode == 0, run.stderr
    result = orjson.loads(run.stdout.strip().splitlines()[-1])
    assert result["drill"] == "fuzz" and result["ok"] is True
    assert result["crashes"] == 0 and result["lost"] == 0 and result["duplicated"] == 0 and result["recovery_s"] == 0
    assert result["expected"] == {"crashes": 0, "lost": 0, "duplicated": 0, "seed_polls_stored": len(fuzz.SEEDS)}
    assert result["payloads"] == 50 * len(fuzz.SEEDS) == result["stored"] + result["failed"]
    assert result["seed_polls_stored"] == len(fuzz.SEEDS)
    assert set(result["feeds"]) == set(fuzz.SEEDS)
    # the mutations reach past the JSON reader: every feed stored some and refused some
    assert all(f["stored"] > 0 and f["failed"] > 0 for f in result["feeds"].values())
    assert sum(result["by_kind"].values()) == result["failed"]
    assert "crashes:" in run.stderr and "expected: 0" in run.stderr


def test_the_same_random_seed_gives_the_same_payloads():
    seed = (fuzz.SEEDS_DIR / fuzz.SEEDS["cemaden"].file).read_bytes()
    first = list(mutated(seed, "json", 40, random.Random("14:cemaden")))
    assert first == list(mutated(seed, "json", 40, random.Random("14:cemaden")))
    assert first != list(mutated(seed, "json", 40, random.Random("15:cemaden")))
    names = " ".join(name for name, _ in first)
    assert "truncated" in names or "encoding" in names or "bytes flipped" in names
    assert "wrong type" in names


def test_every_seed_is_a_good_poll_of_its_feed():
    result = fuzz.run(None, payloads=1, progress=False)
    assert result["seed_polls_stored"] == len(fuzz.SEEDS)


def test_the_drill_counts_a_crash_and_a_failed_poll_that_changed_the_stored_data(monkeypatch):
    seed = (fuzz.SEEDS_DIR / fuzz.SEEDS["cemaden"].file).read_bytes()
    calls = {"n": 0}

    def faulty(feed, payload, ctx, store, **kw):
        if payload == seed:
            return store_payload(feed, payload, ctx, store, **kw)
        calls["n"] += 1
        if calls["n"] % 2:
            raise KeyError("a bug in a parser")
        store.redis.hset("oc:entities", "cemaden:half-written", "{}")  # written, then refused
        raise ParseError("refused after a partial write")

    monkeypatch.setattr(fuzz, "store_payload", faulty)
    result = fuzz.run(None, payloads=10, feeds=["cemaden"], progress=False)
    assert result["ok"] is False
    assert result["crashes"] == 5 and result["crash_examples"][0]["error"].startswith("KeyError")
    assert result["lost"] == 1  # the first partial write changed the data; the next ones rewrite the same field
    assert result["by_kind"]["cemaden parse: refused after a partial write"] == 5
