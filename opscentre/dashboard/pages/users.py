"""The users page (`/users`, admins only): every console account with its role, whether it is
disabled and when it last signed in (from the audit's sign-ins); add an account, change its role,
disable or enable it, set a new password. A new password is generated and shown once, in the
answer to the click that made it (only its hash is kept), and a new password ends the account's
sessions — as `opscentre users add|passwd` do: both call core/user_admin.py, which also writes
the audit entry (actor: the signed-in admin) and refuses a change that would leave no enabled admin.

Other roles see a line saying the page is for admins; every write callback is guarded by
Action.USERS on the server, whatever the page shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from typing import Any

from dash import Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate
from flask_login import current_user

from opscentre.core import operators, user_admin
from opscentre.core.roles import ORDER, Action, parse_role
from opscentre.dashboard import ids
from opscentre.dashboard.console_language import console_translator
from opscentre.dashboard.pages.frame import Console, Page, Viewer, page_shell
from opscentre.dashboard.redis_clients import REDIS_DOWN
from opscentre.dashboard.roles import guarded
from opscentre.i18n import N_, Translator
from opscentre.layers.base import local_label

TEXT = {
    "title": N_("Users"),
    "admins_only": N_("Admins only: this page manages the console's accounts. Ask an admin for a change."),
    "accounts": N_("Accounts"),
    "user": N_("User"),
    "role": N_("Role"),
    "state": N_("State"),
    "last_sign_in": N_("Last sign-in"),
    "enabled": N_("enabled"),
    "disabled": N_("disabled"),
    "unknown": N_("—"),
    "add": N_("Add a user"),
    "name": N_("Username"),
    "add_button": N_("Add"),
    "change": N_("Change a user"),
    "pick": N_("Choose a user"),
    "set_role": N_("Set role"),
    "disable": N_("Disable"),
    "enable": N_("Enable"),
    "reset": N_("New password"),
    "added": N_("{name} added as {role}."),
    "password": N_("Password for {name}, shown once (only its hash is kept):"),
    "role_set": N_("{name} is now {role}."),
    "disabled_done": N_("{name} disabled; {n} session(s) ended."),
    "enabled_done": N_("{name} enabled."),
    "reset_done": N_("New password for {name}; {n} session(s) ended."),
    "refused": N_("Not done: {reason}"),
    "choose": N_("Not done: choose a user first."),
    "unreachable": N_("Redis unreachable — nothing was changed, try again"),
    "none": N_("No accounts."),
}


def account_rows(accounts: list[Mapping[str, Any]], sign_ins: Mapping[str, float], tz: tzinfo,
                 t: Translator) -> list[dict[str, str]]:
    """The table (pure): one row per account, by name."""
    return [{"username": a["username"], "role": a["role"],
             "state": t.gettext(TEXT["disabled"] if a["disabled"] else TEXT["enabled"]),
             "disabled": a["disabled"],
             "last": local_label(sign_ins[a["username"]], tz, t) if a["username"] in sign_ins
             else t.gettext(TEXT["unknown"])} for a in accounts]


def accounts_table(console: Console, t: Translator) -> tuple[Any, list[dict[str, str]]]:
    """The accounts' table and the picker's options."""
    redis = console.store.redis
    accounts = operators.accounts(redis)
    rows = account_rows(accounts, user_admin.last_sign_ins(redis, [a["username"] for a in accounts]),
                        console.settings.tz, t)
    if not rows:
        return html.P(t.gettext(TEXT["none"])), []
    head = html.Thead(html.Tr([html.Th(t.gettext(TEXT[k]), scope="col")
                               for k in ("user", "role", "state", "last_sign_in")]))
    body = html.Tbody([html.Tr([html.Td(r["username"], className="user-name"), html.Td(r["role"]),
                                html.Td(r["state"]), html.Td(r["last"])],
                               className="user-row" + (" user-disabled" if r["disabled"] else ""),
                               **{"data-user": r["username"]}) for r in rows])
    return html.Table([head, body], className="admin-table"), [{"label": r["username"], "value": r["username"]}
                                                               for r in rows]


def admins_only(console: Console, viewer: Viewer, title: str) -> html.Div:
    """What a role that may not manage this sees (the admin pages share it)."""
    return page_shell(console, viewer, [], [html.P(viewer.t.gettext(N_("Admins only.")), id=ids.ADMIN_ONLY,
                                                   className="admin-only"),
                                            html.P(viewer.t.gettext(TEXT["admins_only"]))], title)


def _roles() -> list[dict[str, str]]:
    return [{"label": role.value, "value": role.value} for role in ORDER]


def layout(console: Console, viewer: Viewer, _param: str = "") -> html.Div:
    t = viewer.t
    title = t.gettext(TEXT["title"])
    if Action.USERS not in viewer.can:
        return admins_only(console, viewer, title)
    try:
        table, picks = accounts_table(console, t)
    except REDIS_DOWN:
        table, picks = html.P(t.gettext(TEXT["unreachable"]), className="status-error"), []
    main = [
        html.Section([html.H2(t.gettext(TEXT["accounts"]), className="panel-title"),
                      html.Div(table, id=ids.USERS_TABLE)], className="admin-section"),
        html.Section([
            html.H2(t.gettext(TEXT["add"]), className="panel-title"),
            html.Label([t.gettext(TEXT["name"]), dcc.Input(id=ids.USERS_NEW_NAME, type="text", maxLength=64,
                                                           autoComplete="off")], className="admin-field"),
            html.Label([t.gettext(TEXT["role"]), dcc.Dropdown(id=ids.USERS_NEW_ROLE, options=_roles(),
                                                              value="operator", clearable=False)],
                       className="admin-field"),
            html.Button(t.gettext(TEXT["add_button"]), id=ids.USERS_ADD, className="admin-button"),
        ], className="admin-section admin-form"),
        html.Section([
            html.H2(t.gettext(TEXT["change"]), className="panel-title"),
            html.Label([t.gettext(TEXT["pick"]), dcc.Dropdown(id=ids.USERS_PICK, options=picks)],
                       className="admin-field"),
            html.Label([t.gettext(TEXT["role"]), dcc.Dropdown(id=ids.USERS_PICK_ROLE, options=_roles(),
                                                              value="viewer", clearable=False)],
                       className="admin-field"),
            html.Button(t.gettext(TEXT["set_role"]), id=ids.USERS_SET_ROLE, className="admin-button"),
            html.Button(t.gettext(TEXT["disable"]), id=ids.USERS_DISABLE, className="admin-button"),
            html.Button(t.gettext(TEXT["enable"]), id=ids.USERS_ENABLE, className="admin-button"),
            html.Button(t.gettext(TEXT["reset"]), id=ids.USERS_RESET, className="admin-button"),
        ], className="admin-section admin-form"),
        html.Div(id=ids.USERS_RESULT, className="admin-result", role="status", **{"aria-live": "polite"}),
    ]
    return page_shell(console, viewer, [], main, title)


def _password_shown(t: Translator, name: str, password: str, line: str) -> list[Any]:
    return [html.P(line), html.P([t.gettext(TEXT["password"]).format(name=name), " ",
                                  html.Code(password, className="new-password")])]


def register(app: Dash, console: Console) -> None:
    redis = console.store.redis

    def answer(t: Translator, said: Any):
        table, picks = accounts_table(console, t)
        return said, table, picks

    @app.callback(Output(ids.USERS_RESULT, "children"), Output(ids.USERS_TABLE, "children"),
                  Output(ids.USERS_PICK, "options"),
                  Input(ids.USERS_ADD, "n_clicks"), State(ids.USERS_NEW_NAME, "value"),
                  State(ids.USERS_NEW_ROLE, "value"), prevent_initial_call=True)
    @guarded(redis, Action.USERS)
    def add(n_clicks, name, role):
        if not n_clicks:
            raise PreventUpdate
        t = console_translator()
        try:
            role = parse_role(str(role or ""))
            password = user_admin.add_user(redis, current_user.id, str(name or ""), role)
        except (operators.AccountError, ValueError) as exc:
            return answer(t, t.gettext(TEXT["refused"]).format(reason=str(exc)[:300]))
        except REDIS_DOWN:
            return t.gettext(TEXT["unreachable"]), no_update, no_update
        name = str(name).strip()
        return answer(t, _password_shown(t, name, password,
                                         t.gettext(TEXT["added"]).format(name=name, role=role.value)))

    @app.callback(Output(ids.USERS_RESULT, "children", allow_duplicate=True),
                  Output(ids.USERS_TABLE, "children", allow_duplicate=True),
                  Output(ids.USERS_PICK, "options", allow_duplicate=True),
                  Input(ids.USERS_SET_ROLE, "n_clicks"), Input(ids.USERS_DISABLE, "n_clicks"),
                  Input(ids.USERS_ENABLE, "n_clicks"), Input(ids.USERS_RESET, "n_clicks"),
                  State(ids.USERS_PICK, "value"), State(ids.USERS_PICK_ROLE, "value"), prevent_initial_call=True)
    @guarded(redis, Action.USERS)
    def change(_role_clicks, _disable_clicks, _enable_clicks, _reset_clicks, name, role):
        t = console_translator()
        clicked = ctx.triggered_id
        if clicked is None:
            raise PreventUpdate
        if not name:
            return answer(t, t.gettext(TEXT["choose"]))
        name, actor = str(name), current_user.id
        try:
            if clicked == ids.USERS_SET_ROLE:
                role = parse_role(str(role or ""))
                user_admin.change_role(redis, actor, name, role)
                said = t.gettext(TEXT["role_set"]).format(name=name, role=role.value)
            elif clicked == ids.USERS_DISABLE:
                said = t.gettext(TEXT["disabled_done"]).format(name=name, n=user_admin.disable_user(redis, actor, name))
            elif clicked == ids.USERS_ENABLE:
                user_admin.enable_user(redis, actor, name)
                said = t.gettext(TEXT["enabled_done"]).format(name=name)
            else:
                password, ended = user_admin.reset_password(redis, actor, name)
                said = _password_shown(t, name, password, t.gettext(TEXT["reset_done"]).format(name=name, n=ended))
        except (operators.AccountError, ValueError) as exc:
            said = t.gettext(TEXT["refused"]).format(reason=str(exc)[:300])
        except REDIS_DOWN:
            return t.gettext(TEXT["unreachable"]), no_update, no_update
        return answer(t, said)


PAGE = Page("/users", TEXT["title"], layout, register)
