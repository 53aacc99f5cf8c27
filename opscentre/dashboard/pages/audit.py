"""The audit page (`/audit`): every entry of the audit stream (core/alert_store.py: the engine's
transitions, what people did, refusals), newest first, filtered by who, what (the action) and when
(from / to in the city's local time, "YYYY-MM-DD HH:MM"; the last day unless told), and its
export as CSV at `/audit.csv` with the same filters in the query string.

Any signed-in user may read the audit (a viewer sees everything): the page and the export are
behind the console's sign-in guard (auth.py), and the export checks it again itself. Reading only:
nothing here writes.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import urlencode

import orjson
from dash import Dash, Input, Output, dcc, html
from flask import Response, abort, request
from flask_login import current_user

from opscentre.dashboard import ids
from opscentre.dashboard.console_language import console_translator
from opscentre.dashboard.pages.frame import Console, Page, Viewer, page_shell
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.i18n import N_, Translator

SHOWN = 500  # rows on the page (the export has them all)
DEFAULT_S = 86400  # with no "from": the last day
CHOICES_FROM_S = 7 * 86400  # the who / what choices: those seen in the last week
MAX_FIELD = 64
EXPORT = "/audit.csv"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
LOCAL_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d")
TEXT = {
    "title": N_("Audit"),
    "who": N_("Who"),
    "what": N_("What"),
    "from": N_("From (local time)"),
    "to": N_("To (local time)"),
    "anyone": N_("anyone"),
    "anything": N_("any action"),
    "format": N_("YYYY-MM-DD HH:MM"),
    "export": N_("Export as CSV"),
    "when": N_("When"),
    "subject": N_("Subject"),
    "detail": N_("Detail"),
    "none": N_("No audit entries match."),
    "more": N_("Showing the newest {shown} of {n}; the export has them all."),
    "bad_time": N_("Not a time: {text} (write YYYY-MM-DD HH:MM)"),
    "unreachable": N_("Redis unreachable — try again shortly."),
}


def parse_local(text: Any, tz: tzinfo) -> float | None:
    """'2026-12-07 14:30' in the city's time zone -> epoch seconds; None for nothing; ValueError for
    what is not a time."""
    text = str(text or "").strip()[:MAX_FIELD]
    if not text:
        return None
    for fmt in LOCAL_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=tz).timestamp()
        except ValueError:
            continue
    raise ValueError(text)


def local_time(ts: float, tz: tzinfo) -> str:
    return datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


def matching(entries: Iterable[Mapping[str, Any]], who: str | None, what: str | None,
             start: float | None, end: float | None) -> list[Mapping[str, Any]]:
    """The entries the filters let through (pure), newest first."""
    out = [e for e in entries
           if (not who or e.get("actor") == who) and (not what or e.get("action") == what)
           and (start is None or float(e.get("at") or 0) >= start) and (end is None or float(e.get("at") or 0) < end)]
    out.sort(key=lambda e: -float(e.get("at") or 0))
    return out


def _detail(entry: Mapping[str, Any]) -> str:
    after = entry.get("after")
    return "" if after is None else orjson.dumps(after, option=orjson.OPT_SORT_KEYS).decode()


def _cell(value: Any) -> str:
    """A text cell a spreadsheet will not run: one starting like a formula gets a leading quote
    (OWASP's advice on CSV injection; the audit holds what people typed, and usernames)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


def csv_text(entries: Iterable[Mapping[str, Any]], tz: tzinfo) -> str:
    """The export: one row per entry, times in the city's zone with their offset, before/after as JSON."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["at", "actor", "action", "subject", "before", "after"])
    for e in entries:
        writer.writerow([local_time(float(e.get("at") or 0), tz), _cell(e.get("actor")), _cell(e.get("action")),
                         _cell(e.get("subject")),
                         "" if e.get("before") is None else orjson.dumps(e["before"]).decode(), _detail(e)])
    return out.getvalue()


class Filters:
    """The page's filters, read from the form or a query string, cut to size."""

    def __init__(self, who: Any, what: Any, start: Any, end: Any):
        self.who, self.what = (str(who)[:MAX_FIELD] if who else None), (str(what)[:MAX_FIELD] if what else None)
        self.start_text, self.end_text = str(start or "")[:MAX_FIELD], str(end or "")[:MAX_FIELD]

    def times(self, tz: tzinfo, now: float) -> tuple[float | None, float | None]:
        start = parse_local(self.start_text, tz)
        return (now - DEFAULT_S if start is None and not self.start_text else start), parse_local(self.end_text, tz)

    def query(self) -> str:
        return urlencode({k: v for k, v in (("who", self.who), ("what", self.what), ("from", self.start_text),
                                             ("to", self.end_text)) if v})


def read(console: Console, filters: Filters, now: float) -> list[Mapping[str, Any]]:
    start, end = filters.times(console.settings.tz, now)
    return matching(console.alerts.audit(since=start), filters.who, filters.what, start, end)


def table(entries: list[Mapping[str, Any]], tz: tzinfo, t: Translator) -> list[Any]:
    if not entries:
        return [html.P(t.gettext(TEXT["none"]), className="audit-none")]
    head = html.Thead(html.Tr([html.Th(t.gettext(TEXT[k]), scope="col") for k in ("when", "who", "what", "subject",
                                                                                     "detail")]))
    body = html.Tbody([html.Tr([html.Td(local_time(float(e.get("at") or 0), tz), className="audit-when"),
                                html.Td(str(e.get("actor") or "")), html.Td(str(e.get("action") or "")),
                                html.Td(str(e.get("subject") or "")),
                                html.Td(_detail(e)[:300], className="audit-detail")],
                               **{"data-action": str(e.get("action") or "")})
                       for e in entries[:SHOWN]])
    more = [html.P(t.gettext(TEXT["more"]).format(shown=SHOWN, n=len(entries)))] if len(entries) > SHOWN else []
    return [html.Table([head, body], className="audit-table"), *more]


def result(console: Console, filters: Filters, t: Translator) -> list[Any]:
    try:
        return table(read(console, filters, time.time()), console.settings.tz, t)
    except ValueError as exc:
        return [html.P(t.gettext(TEXT["bad_time"]).format(text=str(exc)), className="status-error", role="alert")]
    except REDIS_DOWN:
        return [html.P(t.gettext(TEXT["unreachable"]), className="status-error")]


def choices(console: Console) -> tuple[list[str], list[str]]:
    try:
        seen = list(console.alerts.audit(since=time.time() - CHOICES_FROM_S))
    except REDIS_DOWN:
        return [], []
    return sorted({str(e.get("actor")) for e in seen if e.get("actor")}), \
        sorted({str(e.get("action")) for e in seen if e.get("action")})


def layout(console: Console, viewer: Viewer, _param: str = "") -> html.Div:
    t = viewer.t
    actors, actions = choices(console)
    filters = Filters(None, None, None, None)

    def field(label: str, control: Any, for_id: str) -> html.Div:
        return html.Div([html.Label(t.gettext(TEXT[label]), htmlFor=for_id), control], className="audit-field")

    form = html.Div([
        field("who", dcc.Dropdown(id=ids.AUDIT_WHO, options=actors, placeholder=t.gettext(TEXT["anyone"]),
                                  className="audit-choice"), ids.AUDIT_WHO),
        field("what", dcc.Dropdown(id=ids.AUDIT_WHAT, options=actions, placeholder=t.gettext(TEXT["anything"]),
                                   className="audit-choice"), ids.AUDIT_WHAT),
        field("from", dcc.Input(id=ids.AUDIT_FROM, type="text", debounce=True, maxLength=MAX_FIELD,
                                placeholder=t.gettext(TEXT["format"])), ids.AUDIT_FROM),
        field("to", dcc.Input(id=ids.AUDIT_TO, type="text", debounce=True, maxLength=MAX_FIELD,
                              placeholder=t.gettext(TEXT["format"])), ids.AUDIT_TO),
        html.A(t.gettext(TEXT["export"]), id=ids.AUDIT_EXPORT, href=EXPORT, className="audit-export", download=""),
    ], className="audit-filters", role="search")
    main = [form, html.Div(result(console, filters, t), id=ids.AUDIT_TABLE, className="audit-result",
                           role="region", **{"aria-live": "polite"})]
    return page_shell(console, viewer, [], main, t.gettext(TEXT["title"]))


def register(app: Dash, console: Console) -> None:
    @app.callback(Output(ids.AUDIT_TABLE, "children"), Output(ids.AUDIT_EXPORT, "href"),
                  Input(ids.AUDIT_WHO, "value"), Input(ids.AUDIT_WHAT, "value"),
                  Input(ids.AUDIT_FROM, "value"), Input(ids.AUDIT_TO, "value"), prevent_initial_call=True)
    def filtered(who, what, start, end):
        filters = Filters(who, what, start, end)
        query = filters.query()
        return result(console, filters, console_translator()), f"{EXPORT}?{query}" if query else EXPORT

    def export():
        if not getattr(current_user, "is_authenticated", False):
            abort(401)  # (the sign-in guard refused it already)
        filters = Filters(request.args.get("who"), request.args.get("what"), request.args.get("from"),
                          request.args.get("to"))
        try:
            entries = read(console, filters, time.time())
        except ValueError as exc:
            return Response(f"not a time: {exc}\n", status=400, mimetype="text/plain")
        except REDIS_DOWN:
            return Response("Redis unreachable — try again shortly\n", status=503, mimetype="text/plain")
        stamp = datetime.fromtimestamp(time.time(), console.settings.tz).strftime("%Y%m%d-%H%M")
        return Response(csv_text(entries, console.settings.tz), mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"',
                                 "Cache-Control": "no-store"})

    app.server.add_url_rule(EXPORT, "audit_csv", export, methods=["GET"])


PAGE = Page("/audit", TEXT["title"], layout, register)
