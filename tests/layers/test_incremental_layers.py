"""At city scale a data version changes a few entities: the gauges layer rewrites only their items
(and never the arrays an earlier build handed out), and what it builds equals a fresh build."""

from __future__ import annotations

from layer_city import city, gauge

from opscentre.layers import rain_gauges
from opscentre.i18n import translator


def gauges_in(rio, n):
    out = []
    for i in range(n):
        zone_id = rio.zones.ids[i % len(rio.zones.ids)]
        lon, lat = rio.zones.representative_points[i % len(rio.zones.ids)]
        out.append(gauge(f"g{i:04d}", round(lon + (i % 5) * 0.001, 5), round(lat, 5), zone_id))
    return out


def test_a_few_changed_gauges_rewrite_their_items_only_and_equal_a_fresh_build(rio):
    gauges = gauges_in(rio, 300)
    rain = {g["entity_id"]: float(i % 7) for i, g in enumerate(gauges)}
    for t in (None, translator("pt-BR")):
        rain_gauges._last.clear()
        first = rain_gauges.traces(city(rio, gauges, rain_mm=rain), t)
        colours_before = list(first[1]["marker"]["color"])
        changed = dict(rain, g0005=30.0, g0150=0.0)
        data = city(rio, gauges, rain_mm=changed)
        again = rain_gauges.traces(data, t)
        rain_gauges._last.clear()
        assert again == rain_gauges.traces(data, t)  # the same as built from nothing
        assert again[1]["lat"] is first[1]["lat"]  # nothing moved: the column is shared
        assert first[1]["marker"]["color"] == colours_before  # the earlier build's arrays untouched
        differ = [i for i, (a, b) in enumerate(zip(first[1]["text"], again[1]["text"])) if a != b]
        assert differ == [5, 150]


def test_a_changed_registry_rebuilds_whole(rio):
    gauges = gauges_in(rio, 50)
    rain_gauges._last.clear()
    rain_gauges.traces(city(rio, gauges, rain_mm={g["entity_id"]: 1.0 for g in gauges}))
    fewer = gauges[:40]
    data = city(rio, fewer, rain_mm={g["entity_id"]: 1.0 for g in fewer})
    built = rain_gauges.traces(data)
    rain_gauges._last.clear()
    assert built == rain_gauges.traces(data) and len(built[1]["lat"]) == 40
