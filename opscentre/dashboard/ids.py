"""Every Dash component id of the operator console and the public view, defined once."""

MAP = "city-map"
TICK = "live-tick"  # dcc.Interval driving the live update
MAP_STATE = "map-state"  # dcc.Store: what this browser has (store version, array digests)
LAYER_TOGGLE = "layer-toggle"  # operator console only
STATUS_BAR = "status-bar"
ALERTS_PANEL = "alerts-panel"
BANNER = "simulated-banner"
LEGEND = "legend"
ATTRIBUTION = "attribution"
ACK_ALERT = "ack-alert"  # operator console: which alert to acknowledge (dropdown)
ACK_NOTE = "ack-note"  # operator console: the note (plain text)
ACK_BUTTON = "ack-button"
ACK_RESULT = "ack-result"  # what the last acknowledgement did (aria-live)
ACK_RESOLVE = "ack-resolve"  # operator console: resolve the chosen alert by hand
ACK_SILENCE = "ack-silence"  # operator console: silence the chosen alert's notifications...
ACK_SILENCE_FOR = "ack-silence-for"  # ...for this long (dropdown)
OPERATOR_ROLE = "operator-role"  # the signed-in user's role, in the header
APPROVALS = "approvals"  # operator console: mass sends awaiting approval (dropdown)
APPROVE_BUTTON = "approve-button"
APPROVE_RESULT = "approve-result"
DEAD_LETTERS = "dead-letters"  # operator console: messages that were not delivered (dropdown)
RETRY_BUTTON = "retry-button"
RETRY_RESULT = "retry-result"
INCIDENT_PANEL = "incident-panel"  # operator console: incidents and their messages by channel and state
INCIDENT_PANEL_STATE = "incident-panel-state"  # dcc.Store: the digest of what the incident panel shows
