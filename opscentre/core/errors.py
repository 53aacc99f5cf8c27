"""Typed failures. Each carries `retryable` so backoff decisions live in one place."""

from __future__ import annotations


class OpscentreError(Exception):
    """Base of every failure the project raises on purpose."""

    retryable = False
    kind = "error"


class ConfigError(OpscentreError):
    """The configuration is invalid. `problems` lists every one as 'file:line: reason'."""

    kind = "config"

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class ParseError(OpscentreError):
    """A feed payload could not be parsed at all; nothing from it is stored."""

    kind = "parse"


class FetchError(OpscentreError):
    """A feed could not be fetched. `kind` says how, for health and /metrics: timeout,
    connection, http_status, rate_limited (429), too_large, or fetch (anything else)."""

    kind = "fetch"
    retryable = True

    def __init__(self, message: str, kind: str = "fetch"):
        super().__init__(message)
        self.kind = kind


class NotModified(OpscentreError):
    """A conditional GET answered 304: the source has nothing new. Not a failure."""

    kind = "not_modified"


class StoreUnavailable(OpscentreError):
    """Redis could not be reached."""

    kind = "redis"
    retryable = True
