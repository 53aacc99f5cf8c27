"""What needs attention (components/attention.py), without a browser: which alerts ring, what is
announced to screen readers, and in which language."""

from __future__ import annotations

from opscentre.dashboard.components.attention import alarm_class, announcement, attention_model
from opscentre.i18n import translator


def alert(alert_id, severity="critical", state="firing", acked=None):
    return {"id": alert_id, "severity": severity, "state": state, "acknowledged_by": acked,
            "summary": f"{severity} rain at {alert_id}", "rule": "rain_15min"}


def test_only_firing_unacknowledged_critical_or_emergency_alerts_ring():
    alerts = [alert("a1"), alert("a2", "emergency"), alert("a3", acked="olga"), alert("a4", "warning"),
              alert("a5", state="pending")]
    model = attention_model(alerts, {"level": 3})
    assert model["ringing"] == ["a1", "a2"] and model["firing"] == ["a1", "a2", "a3", "a4"] and model["stage"] == 3
    assert alarm_class(model) == "attention attention-alarm"
    assert alarm_class(attention_model([alert("a3", acked="olga")], None)) == "attention"


def test_only_what_is_new_to_this_screen_is_announced_and_the_first_view_says_nothing():
    en = translator("en")
    before = attention_model([alert("a1", "warning")], {"level": 2})
    now_alerts = [alert("a1", "warning"), alert("a9")]
    after = attention_model(now_alerts, {"level": 4})
    said = announcement(en, before, after, now_alerts)
    assert said == "New alert: Critical — critical rain at a9. The city is now at stage 4 — Alert."
    assert announcement(en, None, after, now_alerts) is None  # the page just loaded: nothing is "new"
    assert announcement(en, after, after, now_alerts) is None
    pt = announcement(translator("pt-BR"), before, after, now_alerts)
    assert pt.startswith("Novo alerta: Crítico — critical rain at a9.") and "estágio 4" in pt


def test_many_new_alerts_are_named_up_to_five_then_counted():
    alerts = [alert(f"a{i}", "warning") for i in range(8)]
    said = announcement(translator("en"), attention_model([], None), attention_model(alerts, None), alerts)
    assert said.count("New alert") == 5 and said.endswith("and 3 more alerts.")
