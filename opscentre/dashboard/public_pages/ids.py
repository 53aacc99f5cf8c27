"""The public view's own component ids (the map's are in opscentre.dashboard.ids), defined once."""

STAGE = "public-stage"  # the city stage card
UPDATED = "public-updated"  # "Updated at 14:05"
ALERTS = "public-alerts"  # the public alerts with what to do
ZONES_WITH_ALERTS = "public-zones-with-alerts"  # beside the map: the bairros with alerts, named
BAIRRO_INPUT = "bairro-input"
BAIRRO_NAMES = "bairro-names"  # the datalist of the city's zone names
BAIRRO_BUTTON = "bairro-button"
BAIRRO_ANSWER = "bairro-answer"
PANEL_STATE = "public-panel-state"  # dcc.Store: the page's language and digests of what it shows
MAP_SECTION = "public-map"
