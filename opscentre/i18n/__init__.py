"""One translation catalogue for every user-facing string (Babel, gettext `.po` files).

Strings are written in English (the source language) and marked where they are used:
`t = translator(lang)`, then `t.gettext("Updated at {time}").format(time=...)` or
`t.ngettext("{n} alert", "{n} alerts", n).format(n=n)`, `t.pgettext("rain", "Heavy")` for a short
word whose translation depends on where it is used; words chosen at run time (stage names,
severities, legend labels) are listed once with `N_()` so extraction finds them
(opscentre/i18n/vocabulary.py). Placeholders are `str.format` fields: `{name}`, the same in
msgid and msgstr (tests/i18n checks it).

The catalogues are `opscentre/i18n/locales/<locale>/LC_MESSAGES/messages.po`. They are compiled
**when first used, in memory** (babel.messages.pofile.read_po -> mofile.write_mo), not committed
as `.mo` binaries: a `.po` is the one source of truth, a review shows the text that changed, and a
compiled file can never lag behind its `.po` (reading three small catalogues costs a few ms, once
per process). Fuzzy entries are left out, as `pybabel compile` leaves them out, so an unchecked
translation falls back to English rather than showing a guess. A language missing a string shows
the English text.

Add a string: mark it, then
    pybabel extract -F babel.cfg --no-location --sort-output --project opscentre -o opscentre/i18n/messages.pot .
    pybabel update --no-wrap -i opscentre/i18n/messages.pot -d opscentre/i18n/locales
and translate it in each `messages.po`. Add a language: `pybabel init -i opscentre/i18n/messages.pot
-d opscentre/i18n/locales -l fr`, then one line in LANGUAGES below.

The language of a page: `lang_for(args, settings)` — `?lang=` when it names a language we have,
else the city's `city.language`. No cookie and no Accept-Language, so a public page's language is
in its URL and the page stays cookie-free and cacheable.
"""

from __future__ import annotations

import gettext as _gettext
import io
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"
SOURCE_LANGUAGE = "en"
# language tag (as in URLs, config and HTML lang) -> Babel locale directory
LANGUAGES: dict[str, str] = {"pt-BR": "pt_BR", "en": "en", "da": "da"}
LANGUAGE_NAMES = {"pt-BR": "Português", "en": "English", "da": "Dansk"}  # each in its own language

K = TypeVar("K")
_cache: dict[str, Translator] = {}
_lock = threading.Lock()


def N_(message: str) -> str:  # noqa: N802 — gettext's name for "mark for extraction, translate later"
    return message


def normalise(tag: Any) -> str | None:
    """The language we have for a tag as people write it ("pt-br", "pt_BR", "EN", "da-DK"), or None."""
    if not isinstance(tag, str) or not tag.strip() or len(tag) > 20:
        return None
    wanted = tag.strip().replace("_", "-").lower()
    for known in LANGUAGES:
        if known.lower() == wanted:
            return known
    base = wanted.split("-")[0]
    for known in LANGUAGES:
        if known.lower() == base:  # "da-DK" -> "da", "en-GB" -> "en"
            return known
    return None


def catalogue_path(lang: str) -> Path:
    return LOCALES_DIR / LANGUAGES[lang] / "LC_MESSAGES" / f"{DOMAIN}.po"


def compile_catalogue(po_path: Path) -> bytes:
    """The `.mo` bytes of a `.po`, as `pybabel compile` writes them (fuzzy entries left out)."""
    with po_path.open("rb") as po:
        catalog = read_po(po)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


class Translator:
    """The texts of one language; a msgid with no translation is shown as written (English)."""

    def __init__(self, lang: str, translations: _gettext.NullTranslations):
        self.lang = lang
        self._translations = translations

    def gettext(self, message: str) -> str:
        return self._translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._translations.ngettext(singular, plural, n)

    def pgettext(self, context: str, message: str) -> str:
        """A short word that may mean another thing elsewhere ("heavy" rain / traffic): `msgctxt`."""
        return self._translations.pgettext(context, message)


def translator(lang: str | None) -> Translator:
    """The translator of a language tag (unknown tags: the source language)."""
    lang = normalise(lang) or SOURCE_LANGUAGE
    found = _cache.get(lang)
    if found is None:
        with _lock:
            found = _cache.get(lang)
            if found is None:
                path = catalogue_path(lang)
                translations = (_gettext.GNUTranslations(io.BytesIO(compile_catalogue(path))) if path.exists()
                                else _gettext.NullTranslations())
                found = _cache[lang] = Translator(lang, translations)
    return found


def translated(texts: Mapping[K, str], lang: str | None) -> dict[K, str]:
    """A table of English texts (marked with N_) in a language: {key: translation}."""
    t = translator(lang)
    return {key: t.gettext(text) for key, text in texts.items()}


def lang_for(args: Mapping[str, Any] | None, default: str) -> str:
    """The language of a request: its `lang` query parameter when we have that language, else
    `default` (the city's `city.language`). `args` is e.g. flask.request.args."""
    asked = normalise((args or {}).get("lang"))
    return asked or normalise(default) or SOURCE_LANGUAGE
