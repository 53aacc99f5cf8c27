"""The operator console's language: the city's (`city.language`), or the one a user picked with
`?lang=` on any console URL (`/?lang=en`, `/login?lang=pt-BR`), kept in that user's signed session
cookie until they pick another or sign out.

Dash fetches its layout and runs its callbacks without the page's query string, so the choice is
remembered when the page itself is asked for (a before_request hook) and read from the session by
every later request of that browser. The console's components take a Translator; the few that
are called where none is passed (the map's tick in live_map.py draws the status bar and alerts
panel) ask `console_translator()`, which reads the current request. Outside a console request
(the public app, tests that render a component alone) it is the source language, English.
"""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, request, session

from opscentre.i18n import SOURCE_LANGUAGE, Translator, normalise, translator

SESSION_KEY = "oc_lang"  # in the signed cookie: the language this browser picked
CONFIG_KEY = "OPSCENTRE_CONSOLE_LANGUAGE"  # Flask config: the city's language, the console's default


def install_console_language(server: Flask, default: str) -> None:
    """The console's default language is the city's; `?lang=` on a console URL switches it for this
    browser's session (only when it changes, so the cookie is not re-issued on every request)."""
    server.config[CONFIG_KEY] = normalise(default) or SOURCE_LANGUAGE

    @server.before_request
    def remember_language():
        asked = normalise(request.args.get("lang"))
        if asked and session.get(SESSION_KEY) != asked:
            session[SESSION_KEY] = asked


def console_lang() -> str:
    """The language of the current console request: the session's pick, else the city's."""
    if not has_request_context() or CONFIG_KEY not in current_app.config:
        return SOURCE_LANGUAGE
    return (normalise(request.args.get("lang")) or normalise(session.get(SESSION_KEY))
            or current_app.config[CONFIG_KEY])


def console_translator(t: Translator | None = None) -> Translator:
    """`t` when given, else the current console request's language."""
    return t if t is not None else translator(console_lang())
