"""The recipients page (`/recipients`, admins only): the people alerts are texted to — name, phone
masked (core/notify/phones.masked: a number never reaches the browser whole), bairros by name,
role, language, channel, whether the number opted out — and the numbers that opted out by SMS;
the partner systems' webhooks (id, the URL's host, minimum severity, enabled).

An admin adds a recipient, edits one (its phone left empty keeps the number) or removes it, and
enables or disables a webhook. Every change goes through core/notify/recipient_admin.py, the
code `opscentre recipients|webhooks ...` run: the same checks (phonenumbers, the city's bairros,
the model's limits), the same audit entries (actor: the signed-in admin). A refused input is
said in one line and changes nothing. Bairros are chosen from the city's zones (by id; the
server resolves each again). The write callbacks are guarded by Action.RECIPIENTS and
Action.WEBHOOKS on the server; other roles see "admins only".
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from dash import Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask_login import current_user

from opscentre.core import keys
from opscentre.core.notify import recipient_admin
from opscentre.core.notify.phones import masked
from opscentre.core.notify.recipient_store import RecipientStore
from opscentre.core.notify.recipients import Language, Recipient, Role
from opscentre.core.notify.subscribers import SubscriberStore, WebhookSubscriber
from opscentre.core.roles import Action
from opscentre.dashboard import ids
from opscentre.dashboard.console_language import console_translator
from opscentre.dashboard.pages.frame import Console, Page, Viewer, page_shell
from opscentre.dashboard.pages.users import admins_only
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.dashboard.roles import guarded
from opscentre.i18n import N_, Translator
from opscentre.layers.base import local_label

MAX_FIELD = 2000  # characters of any field the server looks at (the model refuses far less)
MAX_ZONES = 200
TEXT = {
    "title": N_("Recipients"),
    "recipients": N_("Recipients"),
    "name": N_("Name"),
    "phone": N_("Phone"),
    "where": N_("Bairros / area"),
    "role": N_("Role"),
    "lang": N_("Language"),
    "channels": N_("Channels"),
    "opted_out": N_("Opted out"),
    "yes": N_("yes"),
    "no": N_("no"),
    "none": N_("No recipients yet."),
    "opted_out_numbers": N_("Numbers that opted out by SMS (SAIR/STOP)"),
    "no_opt_outs": N_("None."),
    "edit": N_("Add or edit a recipient"),
    "pick": N_("Recipient to edit or remove (none: a new one)"),
    "phone_hint": N_("Phone (mobile; Brazilian national form accepted; empty when editing keeps the number)"),
    "save": N_("Save"),
    "remove": N_("Remove"),
    "added": N_("{name} added ({phone})."),
    "changed": N_("{name} saved ({phone})."),
    "removed": N_("{name} removed ({phone})."),
    "refused": N_("Not saved: {reason}"),
    "choose": N_("Not done: choose a recipient first."),
    "gone": N_("Not done: that recipient is gone."),
    "webhooks": N_("Webhooks"),
    "webhook": N_("Webhook"),
    "host": N_("URL host"),
    "min_severity": N_("From severity"),
    "enabled": N_("Enabled"),
    "no_webhooks": N_("No webhooks."),
    "pick_webhook": N_("Webhook to enable or disable"),
    "enable": N_("Enable"),
    "disable": N_("Disable"),
    "webhook_enabled": N_("{id} enabled: new alerts go to {host}."),
    "webhook_disabled": N_("{id} disabled: nothing new goes to {host}."),
    "no_webhook": N_("Not done: choose a webhook first."),
    "unreachable": N_("Redis unreachable — nothing was changed, try again"),
}


def _text(value: Any, limit: int = MAX_FIELD) -> str:
    """A field as the server reads it: a string, at most `limit` characters (longer is refused by
    the model's own limit, with its reason, never stored)."""
    return "" if value is None else str(value)[:limit + 1]


def where(recipient: Recipient, zone_names: Mapping[str, str]) -> str:
    parts = [zone_names.get(z, z) for z in recipient.zone_ids]
    if recipient.point:
        parts.append(f"{recipient.point[0]:.4f},{recipient.point[1]:.4f} +{recipient.radius_m:g} m")
    return ", ".join(parts)


def recipient_rows(recipients: Iterable[Recipient], opted_out: Mapping[str, float], zone_names: Mapping[str, str],
                   t: Translator) -> list[dict[str, str]]:
    """The table (pure): what an admin may see of each recipient, its phone masked."""
    return [{"id": r.id, "name": r.name, "phone": r.masked_phone, "where": where(r, zone_names),
             "role": r.role.value, "lang": r.lang.value, "channels": "SMS",
             "opted_out": t.gettext(TEXT["yes"] if r.phone in opted_out else TEXT["no"])} for r in recipients]


def webhook_rows(subscribers: Iterable[WebhookSubscriber], t: Translator) -> list[dict[str, Any]]:
    return [{"id": s.id, "host": urlsplit(s.url).hostname or "", "min_severity": s.min_severity.value,
             "enabled": s.enabled, "enabled_text": t.gettext(TEXT["yes"] if s.enabled else TEXT["no"])}
            for s in subscribers]


def _table(t: Translator, columns: list[str], rows: list[dict[str, Any]], keys_: list[str], row_key: str,
           data_name: str, extra_class=lambda row: "") -> html.Table:
    head = html.Thead(html.Tr([html.Th(t.gettext(TEXT[c]), scope="col") for c in columns]))
    body = html.Tbody([html.Tr([html.Td(row[k], className=f"cell-{k}") for k in keys_],
                               className=f"{data_name}-row{extra_class(row)}", **{f"data-{data_name}": row[row_key]})
                       for row in rows])
    return html.Table([head, body], className="admin-table")


def recipients_part(console: Console, t: Translator) -> tuple[list[Any], list[dict[str, str]]]:
    """The recipients' table, the opted-out numbers, and the picker's options."""
    redis = console.store.redis
    recipients = RecipientStore(redis).list()
    opted = {k.decode(): float(v) for k, v in redis.hgetall(keys.RECIPIENTS_OPTED_OUT).items()}
    rows = recipient_rows(recipients, opted, console.settings.zones.name_by_id, t)
    table = (_table(t, ["name", "phone", "where", "role", "lang", "channels", "opted_out"], rows,
                    ["name", "phone", "where", "role", "lang", "channels", "opted_out"], "id", "recipient")
             if rows else html.P(t.gettext(TEXT["none"])))
    opt_outs = [html.Li(f"{masked(phone)} · {local_label(at, console.settings.tz, t)}")
                for phone, at in sorted(opted.items(), key=lambda item: -item[1])[:200]]
    part = [table, html.H3(t.gettext(TEXT["opted_out_numbers"]), className="panel-subtitle"),
            html.Ul(opt_outs, className="opted-out") if opt_outs else html.P(t.gettext(TEXT["no_opt_outs"]))]
    return part, [{"label": f"{r['name'][:60]} · {r['phone']}", "value": r["id"]} for r in rows]


def webhooks_part(console: Console, t: Translator) -> tuple[Any, list[dict[str, str]]]:
    rows = webhook_rows(SubscriberStore(console.store.redis).list(), t)
    if not rows:
        return html.P(t.gettext(TEXT["no_webhooks"])), []
    table = _table(t, ["webhook", "host", "min_severity", "enabled"], rows, ["id", "host", "min_severity",
                                                                            "enabled_text"], "id", "webhook",
                   lambda row: "" if row["enabled"] else " webhook-disabled")
    return table, [{"label": f"{r['id']} · {r['host']}", "value": r["id"]} for r in rows]


def _field(label: str, control: Any) -> html.Label:
    return html.Label([label, control], className="admin-field")


def layout(console: Console, viewer: Viewer, _param: str = "") -> html.Div:
    t = viewer.t
    title = t.gettext(TEXT["title"])
    if Action.RECIPIENTS not in viewer.can:
        return admins_only(console, viewer, title)
    try:
        (people, picks), (hooks, hook_picks) = recipients_part(console, t), webhooks_part(console, t)
    except REDIS_DOWN:
        people, picks = [html.P(t.gettext(TEXT["unreachable"]), className="status-error")], []
        hooks, hook_picks = None, []
    zone_names = console.settings.zones.name_by_id
    zones = [{"label": name, "value": zone_id} for zone_id, name in sorted(zone_names.items(), key=lambda z: z[1])]
    main = [
        html.Section([html.H2(t.gettext(TEXT["recipients"]), className="panel-title"),
                      html.Div(people, id=ids.RECIPIENTS_TABLE)], className="admin-section"),
        html.Section([
            html.H2(t.gettext(TEXT["edit"]), className="panel-title"),
            _field(t.gettext(TEXT["pick"]), dcc.Dropdown(id=ids.RECIPIENT_PICK, options=picks)),
            _field(t.gettext(TEXT["name"]), dcc.Input(id=ids.RECIPIENT_NAME, type="text", maxLength=120,
                                                      autoComplete="off")),
            _field(t.gettext(TEXT["phone_hint"]), dcc.Input(id=ids.RECIPIENT_PHONE, type="tel", maxLength=40,
                                                            autoComplete="off")),
            _field(t.gettext(TEXT["where"]), dcc.Dropdown(id=ids.RECIPIENT_ZONES, options=zones, multi=True)),
            _field(t.gettext(TEXT["role"]), dcc.Dropdown(id=ids.RECIPIENT_ROLE, value=Role.COMMUNITY.value,
                                                         clearable=False,
                                                         options=[{"label": r.value, "value": r.value} for r in Role])),
            _field(t.gettext(TEXT["lang"]), dcc.Dropdown(id=ids.RECIPIENT_LANG, value=Language.PT_BR.value,
                                                         clearable=False,
                                                         options=[{"label": g.value, "value": g.value}
                                                                  for g in Language])),
            html.Button(t.gettext(TEXT["save"]), id=ids.RECIPIENT_SAVE, className="admin-button"),
            html.Button(t.gettext(TEXT["remove"]), id=ids.RECIPIENT_REMOVE, className="admin-button"),
            html.Div(id=ids.RECIPIENT_RESULT, className="admin-result", role="status", **{"aria-live": "polite"}),
        ], className="admin-section admin-form"),
        html.Section([
            html.H2(t.gettext(TEXT["webhooks"]), className="panel-title"),
            html.Div(hooks, id=ids.WEBHOOKS_TABLE),
            _field(t.gettext(TEXT["pick_webhook"]), dcc.Dropdown(id=ids.WEBHOOK_PICK, options=hook_picks)),
            html.Button(t.gettext(TEXT["enable"]), id=ids.WEBHOOK_ENABLE, className="admin-button"),
            html.Button(t.gettext(TEXT["disable"]), id=ids.WEBHOOK_DISABLE, className="admin-button"),
            html.Div(id=ids.WEBHOOK_RESULT, className="admin-result", role="status", **{"aria-live": "polite"}),
        ], className="admin-section admin-form"),
    ]
    return page_shell(console, viewer, [], main, title)


def register(app: Dash, console: Console) -> None:
    redis = console.store.redis
    unreachable = (no_update, no_update)

    def answer(t: Translator, said: Any):
        part, picks = recipients_part(console, t)
        return said, part, picks

    @app.callback(Output(ids.RECIPIENT_RESULT, "children"), Output(ids.RECIPIENTS_TABLE, "children"),
                  Output(ids.RECIPIENT_PICK, "options"),
                  Input(ids.RECIPIENT_SAVE, "n_clicks"), State(ids.RECIPIENT_PICK, "value"),
                  State(ids.RECIPIENT_NAME, "value"), State(ids.RECIPIENT_PHONE, "value"),
                  State(ids.RECIPIENT_ZONES, "value"), State(ids.RECIPIENT_ROLE, "value"),
                  State(ids.RECIPIENT_LANG, "value"), prevent_initial_call=True)
    @guarded(redis, Action.RECIPIENTS)
    def save(n_clicks, picked, name, phone, zone_ids, role, lang):
        if not n_clicks:
            raise PreventUpdate
        t = console_translator()
        zone_ids = zone_ids if isinstance(zone_ids, list) else [zone_ids] if zone_ids else []
        try:
            editing = RecipientStore(redis).get(_text(picked, 40)) if picked else None
            if picked and editing is None:
                return answer(t, t.gettext(TEXT["gone"]))
            if len(zone_ids) > MAX_ZONES:
                raise ValueError(f"at most {MAX_ZONES} bairros")
            recipient = recipient_admin.build_recipient(
                console.settings.zones, name=_text(name), phone=_text(phone, 40),
                zone_texts=[_text(z, 120) for z in zone_ids], lang=_text(lang, 10), role=_text(role, 20),
                consent_how=f"console:{current_user.id}", now=time.time(), editing=editing)
            if editing is None:
                recipient_admin.add_recipient(redis, current_user.id, recipient)
            else:
                recipient_admin.update_recipient(redis, current_user.id, recipient)
        except ValueError as exc:  # (RecipientRefused too): the reason never holds the number
            return answer(t, t.gettext(TEXT["refused"]).format(reason=str(exc)[:300]))
        except REDIS_DOWN:
            return t.gettext(TEXT["unreachable"]), *unreachable
        said = TEXT["added"] if editing is None else TEXT["changed"]
        return answer(t, t.gettext(said).format(name=recipient.name, phone=recipient.masked_phone))

    @app.callback(Output(ids.RECIPIENT_RESULT, "children", allow_duplicate=True),
                  Output(ids.RECIPIENTS_TABLE, "children", allow_duplicate=True),
                  Output(ids.RECIPIENT_PICK, "options", allow_duplicate=True),
                  Input(ids.RECIPIENT_REMOVE, "n_clicks"), State(ids.RECIPIENT_PICK, "value"),
                  prevent_initial_call=True)
    @guarded(redis, Action.RECIPIENTS)
    def remove(n_clicks, picked):
        if not n_clicks:
            raise PreventUpdate
        t = console_translator()
        if not picked:
            return answer(t, t.gettext(TEXT["choose"]))
        try:
            removed = recipient_admin.remove_recipient(redis, current_user.id, _text(picked, 40))
            if removed is None:
                return answer(t, t.gettext(TEXT["gone"]))
            return answer(t, t.gettext(TEXT["removed"]).format(name=removed.name, phone=removed.masked_phone))
        except REDIS_DOWN:
            return t.gettext(TEXT["unreachable"]), *unreachable

    @app.callback(Output(ids.RECIPIENT_NAME, "value"), Output(ids.RECIPIENT_PHONE, "value"),
                  Output(ids.RECIPIENT_ZONES, "value"), Output(ids.RECIPIENT_ROLE, "value"),
                  Output(ids.RECIPIENT_LANG, "value"), Input(ids.RECIPIENT_PICK, "value"), prevent_initial_call=True)
    def fill(picked):
        """The chosen recipient's fields in the form (reading only; the phone stays empty: it is
        never sent to the browser whole)."""
        try:
            chosen = RecipientStore(redis).get(_text(picked, 40)) if picked else None
        except REDIS_DOWN:
            raise PreventUpdate from None
        if chosen is None:
            return "", "", [], Role.COMMUNITY.value, Language.PT_BR.value
        return chosen.name, "", list(chosen.zone_ids), chosen.role.value, chosen.lang.value

    @app.callback(Output(ids.WEBHOOK_RESULT, "children"), Output(ids.WEBHOOKS_TABLE, "children"),
                  Input(ids.WEBHOOK_ENABLE, "n_clicks"), Input(ids.WEBHOOK_DISABLE, "n_clicks"),
                  State(ids.WEBHOOK_PICK, "value"), prevent_initial_call=True)
    @guarded(redis, Action.WEBHOOKS)
    def toggle(_enable_clicks, _disable_clicks, picked):
        clicked = ctx.triggered_id
        if clicked is None:
            raise PreventUpdate
        t = console_translator()
        if not picked:
            return t.gettext(TEXT["no_webhook"]), no_update
        enabled = clicked == ids.WEBHOOK_ENABLE
        try:
            changed = recipient_admin.set_webhook_enabled(redis, current_user.id, _text(picked, 40), enabled)
            table, _picks = webhooks_part(console, t)
        except REDIS_DOWN:
            return t.gettext(TEXT["unreachable"]), no_update
        if changed is None:
            return t.gettext(TEXT["gone"]), table
        host = urlsplit(changed.url).hostname or ""
        said = TEXT["webhook_enabled"] if enabled else TEXT["webhook_disabled"]
        return t.gettext(said).format(id=changed.id, host=host), table


PAGE = Page("/recipients", TEXT["title"], layout, register)
