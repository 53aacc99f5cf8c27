"""Words chosen at run time, marked once for extraction (N_): the stages, the alert severities,
the hazards, and the public map legend's texts. Translate with `translator(lang).gettext(word)`.

The legend's texts are the layers' own (opscentre/layers); tests/i18n checks that every public
layer's title, label and legend entry is listed here, so a new layer cannot go untranslated.
"""

from __future__ import annotations

from opscentre.i18n import N_

STAGES = {
    1: (N_("Normal"), N_("No incidents are affecting the city.")),
    2: (N_("Mobilisation"), N_("Risk of serious incidents: city teams are mobilised.")),
    3: (N_("Attention"), N_("Incidents are affecting parts of the city.")),
    4: (N_("Alert"), N_("Serious incidents are affecting the city.")),
    5: (N_("Crisis"), N_("Serious incidents are affecting the whole city. Stay somewhere safe.")),
}
STAGE_ICONS = {1: "✓", 2: "!", 3: "▲", 4: "⚠", 5: "✖"}  # a shape per stage, beside its colour and words

SEVERITIES = {"advisory": N_("Advisory"), "warning": N_("Warning"), "critical": N_("Critical"),
              "emergency": N_("Emergency")}
SEVERITY_ICONS = {"advisory": "ℹ", "warning": "▲", "critical": "⚠", "emergency": "✖"}

HAZARDS = {"rain": N_("Heavy rain"), "landslide": N_("Landslide risk"), "flood": N_("Flooding"),
           "heat": N_("Extreme heat"), "wind": N_("Strong wind"), "air": N_("Poor air quality"),
           "traffic": N_("Heavy traffic"), "power": N_("Power outage"), "feed": N_("Delayed data"),
           "other": N_("Other hazard")}

LEGEND = (
    # zones
    N_("Zones"), N_("Zones — worst 15-min rain (outline: worst alert)"), N_("no data"), N_("no rain"),
    N_("weak"), N_("moderate"), N_("heavy"), N_("very heavy"),
    # warnings
    N_("Warnings"), N_("Warnings — NWS / CAP, by severity"), N_("extreme"), N_("severe"), N_("minor"),
    N_("severity unknown"),
    # traffic
    N_("Traffic"), N_("Traffic — congestion"), N_("free flow"), N_("light"), N_("standstill"), N_("accident"),
    N_("road closed"), N_("hazard"), N_("other report"),
    # outages
    N_("Outages"), N_("Power outages — customers affected"), N_("< 50 customers"), N_("50–499"),
    N_("500–4,999"), N_("5,000 or more"),
    # rivers
    N_("Rivers"), N_("Rivers — level against each station's thresholds"), N_("normal"), N_("attention"),
    N_("alert"), N_("overflow"), N_("level (no thresholds)"), N_("no reading"),
    # rain gauges
    N_("Rain gauges"), N_("Rain gauges — 15-min rain class"),
    # air quality
    N_("Air quality"), N_("Air quality — IQA Rio (SMAC) category"), N_("Good"), N_("Regular"),
    N_("Inadequate"), N_("Bad"), N_("Terrible"), N_("no index"),
    # air quality: the other scales' names as their tables spell them (core/air_quality; a city's
    # legend shows its own scale's: layers/air_quality.py city_legend)
    N_("Very poor"), N_("Extremely poor"),
    # incidents (the console's only)
    N_("Incidents — open, by severity (outline: their bairros)"),
    # transit
    N_("Transit"), N_("Transit — vehicles by route; service alerts"), N_("vehicle (colour: its route)"),
    N_("route with a service alert"),
)
