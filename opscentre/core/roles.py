"""Who may do what: the one role model. Every check on the server (web callbacks, APIs) asks
`allows(role, action)`; nothing else compares roles.

Roles are ordered, each may do what the ones before it may:
- viewer: sees everything, changes nothing;
- operator: acknowledge (with a note), silence, resolve;
- supervisor: also override the stage, approve mass sends (the two-person rule), retry dead letters;
- admin: also manage users, recipients and webhooks.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return ORDER.index(self)


ORDER = (Role.VIEWER, Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN)
LEGACY_ROLE = Role.ADMIN  # an account made before roles existed (the first-start account)
UNKNOWN_ROLE = Role.VIEWER  # a stored value this version does not know: the least it could be


class Action(StrEnum):
    ACK = "ack"  # acknowledge an alert, with a note
    SILENCE = "silence"
    RESOLVE = "resolve"
    ESCALATE = "escalate"  # send an open alert to the secondary recipients now (core/alert_store.py)
    STAGE = "stage"  # set or clear the stage by hand
    APPROVE = "approve"  # approve a mass send (the two-person rule)
    RETRY = "retry"  # send a dead letter again
    USERS = "users"
    RECIPIENTS = "recipients"
    WEBHOOKS = "webhooks"


MINIMUM: dict[Action, Role] = {
    Action.ACK: Role.OPERATOR,
    Action.SILENCE: Role.OPERATOR,
    Action.RESOLVE: Role.OPERATOR,
    Action.ESCALATE: Role.OPERATOR,
    Action.STAGE: Role.SUPERVISOR,
    Action.APPROVE: Role.SUPERVISOR,
    Action.RETRY: Role.SUPERVISOR,
    Action.USERS: Role.ADMIN,
    Action.RECIPIENTS: Role.ADMIN,
    Action.WEBHOOKS: Role.ADMIN,
}


def allows(role: Role | None, action: Action) -> bool:
    """Whether `role` may do `action` (no role: nothing)."""
    return role is not None and role.rank >= MINIMUM[action].rank


def parse_role(text: str) -> Role:
    """A role from its name (any case); ValueError naming the roles otherwise."""
    try:
        return Role(str(text).strip().lower())
    except ValueError:
        raise ValueError(f"unknown role {str(text)[:40]!r} (roles: {', '.join(ORDER)})") from None


def stored_role(raw: bytes | str | None) -> Role:
    """The role of an account from its stored value: none is a pre-roles account (an admin), an
    unknown value the least role."""
    if raw is None:
        return LEGACY_ROLE
    try:
        return Role(raw.decode() if isinstance(raw, bytes) else raw)
    except ValueError:
        return UNKNOWN_ROLE


def may(role: Role) -> list[Action]:
    """The actions a role may do (for `users list` and the console's header)."""
    return [action for action in Action if allows(role, action)]
