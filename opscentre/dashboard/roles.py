"""The console's role check, on the server: every callback or endpoint that changes anything calls
`require(action)` (or is wrapped in `guarded(action)`) before it acts. The role is read from Redis
on each call, so a `users role` or `users disable` counts from the next click. A refusal is a 403
with a JSON reason, recorded in the audit stream (actor, action `refused`, subject the action;
at most once a minute per user and action, so a scripted flood cannot fill Redis — the others are
logged); nothing is changed. The page hides or disables the controls a role cannot use (`allowed`), but
that is only a courtesy: this check is what counts.

Who may do what is core/roles.py's table, nowhere else.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

from flask import abort, jsonify, make_response, request
from flask_login import current_user
from redis import Redis

from opscentre.core import keys, operators
from opscentre.core.alert_store import AlertStore
from opscentre.core.roles import MINIMUM, Action, Role, allows
from opscentre.dashboard.redis_clients import REDIS_DOWN

log = logging.getLogger("opscentre.web")
GUARDED = "_opscentre_action"  # the attribute a guarded function carries: its action
REFUSALS_AUDITED_EVERY_S = 60  # per user and action


def _refuse(status: int, message: str, **extra) -> None:
    abort(make_response(jsonify(error=message, **extra), status))


def current_role(redis: Redis) -> Role | None:
    """The signed-in user's role now (None: nobody signed in, or no such account any more)."""
    if not getattr(current_user, "is_authenticated", False):
        return None
    return operators.role_of(redis, current_user.id)


def allowed(redis: Redis, action: Action) -> bool:
    """For drawing the page: whether to offer the control (never a substitute for `require`)."""
    try:
        return allows(current_role(redis), action)
    except REDIS_DOWN:
        return False


def require(redis: Redis, action: Action) -> str:
    """The signed-in user's name when their role may do `action`; else the request ends here: 401
    for nobody, 403 for a role that may not (audited), 503 when the role cannot be read."""
    if not getattr(current_user, "is_authenticated", False):
        _refuse(401, "login required")
    username = current_user.id
    try:
        role = operators.role_of(redis, username)
    except REDIS_DOWN:
        _refuse(503, "Redis unreachable — nothing was changed, try again")
    if allows(role, action):
        return username
    needed = MINIMUM[action]
    try:
        if redis.set(keys.refusal_noted(username, action.value), 1, nx=True, ex=REFUSALS_AUDITED_EVERY_S):
            AlertStore(redis).record(username, "refused", action.value,
                                     {"role": role.value if role else None, "needs": needed.value,
                                      "path": request.path}, time.time())
        else:
            log.warning("%s (role %s) refused %s again", username, role, action.value)
    except REDIS_DOWN:
        log.warning("audit: %s refused %s (role %s) not recorded (Redis unreachable)", username, action, role)
    _refuse(403, f"{action.value} needs the {needed.value} role or above; {username} is "
                 f"{role.value if role else 'no longer a user'}", action=action.value,
            role=role.value if role else None)
    raise AssertionError("unreachable")  # (abort raised)


def guarded(redis: Redis, action: Action) -> Callable[[Callable], Callable]:
    """Wrap a Dash callback (or any view) so that `require(action)` runs before it does."""
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def checked(*args, **kwargs):
            require(redis, action)
            return fn(*args, **kwargs)

        setattr(checked, GUARDED, action)
        return checked

    return wrap


def guarded_action(fn: Callable) -> Action | None:
    """The action a callback was guarded for, looking through the wrappers Dash put around it."""
    while fn is not None:
        if hasattr(fn, GUARDED):
            return getattr(fn, GUARDED)
        fn = getattr(fn, "__wrapped__", None)
    return None
