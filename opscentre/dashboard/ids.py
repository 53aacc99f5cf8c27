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
STAGE_LEVEL = "stage-level"  # operator console: the stage to set by hand (dropdown; components/stage_panel.py)
STAGE_NOTE = "stage-note"  # ...the note saying who decided it and why
STAGE_SET = "stage-set"
STAGE_CLEAR = "stage-clear"  # end the manual stage (waits for a second supervisor)
STAGE_PENDING = "stage-pending"  # the change waiting for a second supervisor, as text
STAGE_PENDING_ID = "stage-pending-id"  # dcc.Store: the id of the waiting change this browser shows
STAGE_CONFIRM = "stage-confirm"
STAGE_REJECT = "stage-reject"
STAGE_RESULT = "stage-result"  # what the last stage action did (aria-live)
ATTENTION = "attention"  # operator console: the chime's element; data-chime = ringing | muted | silent (assets/attention.js)
ATTENTION_STATE = "attention-state"  # dcc.Store: the firing alerts, the ringing ones and the stage this browser knows
ATTENTION_LIVE = "attention-live"  # aria-live region: new alerts and stage changes, announced
ATTENTION_MUTE = "attention-mute"  # the chime's mute toggle (per screen: localStorage)
# The console's pages (dashboard/pages/): the router and what each page adds
URL = "console-url"  # dcc.Location: the page's path (the router follows it)
PAGE = "console-page"  # the current page, whole (header and main)
PAGE_SHOWN = "console-page-shown"  # dcc.Store: the path the page drawn is for
NAV = "console-nav"  # the pages' links, in every page's header
QUEUE_TICK = "queue-tick"  # alerts page: dcc.Interval refreshing the queue (the queue itself is ACK_ALERT)
QUEUE_TITLE = "queue-title"  # its heading (the queue section is labelled by it)
QUEUE_INCIDENTS = "queue-incidents"  # alerts page: the incidents, with links to their pages
AUDIT_WHO = "audit-who"  # audit page: the filters...
AUDIT_WHAT = "audit-what"
AUDIT_FROM = "audit-from"  # (the city's local time, YYYY-MM-DDTHH:MM)
AUDIT_TO = "audit-to"
AUDIT_TABLE = "audit-table"  # ...what they let through
AUDIT_EXPORT = "audit-export"  # the CSV link for the same filters
QUEUE_EMPTY = "queue-empty"  # alerts page: "no open alerts" (or Redis unreachable) instead of the queue
INCIDENT_MAP = "incident-map"  # incident page: its bairros on a small map
FEEDS_TABLE = "feeds-table"  # feeds page: the health table
FEEDS_STATE = "feeds-state"  # dcc.Store: what the table shows (redrawn only when it changed)
FEEDS_TICK = "feeds-tick"
# wall page (/wall, pages/wall.py)
WALL_STAGE_BAR = "wall-stage-bar"  # the stage's band (its colour)
WALL_STAGE = "wall-stage"  # ...its level, name and since when
WALL_SIDE = "wall-side"  # the side panel whose sections cycle (assets/wall.js)
WALL_STATE = "wall-state"  # dcc.Store: the digest of what the stage and the panels show
WALL_CYCLE = "wall-cycle"  # dcc.Interval: the side panel's cycle
# replay on the map page (components/replay_panel.py)
REPLAY_SLIDER = "replay-slider"  # minutes back from now (0: live)
REPLAY_LIVE = "replay-live"  # the "Back to live" button
REPLAY_LABEL = "replay-label"  # "Live" / "Replaying 14:05 ..." (aria-live)
# entity page (/entity/<id>, pages/entity.py; a click on the map's point opens it)
ENTITY_CHART = "entity-chart"  # prefix: one chart per kind, id "entity-chart-<kind>"
ENTITY_ALERTS = "entity-alerts"  # its open alerts
ENTITY_UNKNOWN = "entity-unknown"  # "no such entity"
# notifications page (/notifications, pages/notifications.py; Retry and Approve are components/approvals.py's)
NOTIFY_COUNTS = "notify-counts"  # deliveries by state
NOTIFY_RECENT = "notify-recent"  # the recent deliveries' table
NOTIFY_STATE = "notify-state"  # ...its state filter
NOTIFY_DEAD = "notify-dead"  # the dead letters' table
NOTIFY_APPROVALS = "notify-approvals"  # the mass sends awaiting approval
NOTIFY_HELD = "notify-held"  # dcc.Store: what the lists show (redrawn only when it changed)
NOTIFY_TICK = "notify-tick"
