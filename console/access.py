"""Who may use the console and what each role may do. Pure: no Streamlit here.

Three roles, each able to do everything the one before it can:
- **viewer** reads, with personal data masked;
- **support** also verifies entity ownership and reveals personal data (with a reason);
- **admin** also creates customers, triggers refreshes, replays and reprocesses webhooks, and
  sees rejected deliveries, the request log and the audit log.

Roles come from configuration, by e-mail address or by domain (`@example.com`). How people
sign in is the gate's business (`gate_mode`): OpenID Connect through `st.login`, a sign-in proxy
in front of the console, or nobody at all on the embedded sandbox.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum


class Role(IntEnum):
    """A role; a higher one may do everything a lower one may."""

    VIEWER = 1
    SUPPORT = 2
    ADMIN = 3

    @property
    def word(self) -> str:
        """The role as the sidebar names it."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        """`viewer`, `support` or `admin` (any case); anything else is a configuration error."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise AccessConfigError(
                f"{text!r} is not a role: use viewer, support or admin."
            ) from None


# What each action needs. Services check these again before acting: a hidden button is a
# convenience, not the protection.
NEEDS: dict[str, Role] = {
    "read": Role.VIEWER,
    "export": Role.VIEWER,
    "reload_customer": Role.VIEWER,
    "reveal": Role.SUPPORT,
    "verify_ownership": Role.SUPPORT,
    "create_customer": Role.ADMIN,
    "connect_bank": Role.ADMIN,
    "trigger_refresh": Role.ADMIN,
    "sync_book": Role.ADMIN,
    "replay_webhook": Role.ADMIN,
    "reprocess_dead_letter": Role.ADMIN,
    "see_rejections": Role.ADMIN,
    "see_request_log": Role.ADMIN,
    "see_audit_log": Role.ADMIN,
}
ACTION_WORDS = {
    "reveal": "reveal personal data",
    "verify_ownership": "verify entity ownership",
    "create_customer": "create customers",
    "connect_bank": "connect banks through Link",
    "trigger_refresh": "trigger data refreshes",
    "sync_book": "start a sync with Lean",
    "replay_webhook": "replay webhooks",
    "reprocess_dead_letter": "reprocess dead letters",
    "see_rejections": "see rejected deliveries",
    "see_request_log": "see the request log",
    "see_audit_log": "see the audit log",
    "export": "export data",
    "reload_customer": "ask Lean for a customer again",
    "read": "use the console",
}


class AccessConfigError(ValueError):
    """The access settings cannot be used as written; the console refuses to start on them."""


class AccessDenied(PermissionError):
    """The signed-in person's role does not allow the action."""

    def __init__(self, actor: Actor, action: str) -> None:
        needed = NEEDS.get(action, Role.ADMIN)
        self.action = action
        self.needed = needed
        super().__init__(
            f"Your role ({actor.role.word}) cannot {ACTION_WORDS.get(action, action)}: it needs "
            f"{needed.word}. Ask an admin of the console if you need it."
        )


@dataclass(frozen=True)
class Actor:
    """The person using the console, as the audit log names them."""

    email: str
    name: str
    role: Role
    how: str  # oidc · proxy · local

    def may(self, action: str) -> bool:
        """True when the role allows `action` (unknown actions need admin)."""
        return self.role >= NEEDS.get(action, Role.ADMIN)


LOCAL_ADMIN = Actor("local-admin@localhost", "Local admin (embedded sandbox)", Role.ADMIN, "local")


def require(actor: Actor | None, action: str) -> Actor:
    """The actor, when their role allows `action`; `AccessDenied` otherwise."""
    if actor is None:
        raise AccessDenied(Actor("unknown", "nobody signed in", Role.VIEWER, "none"), action)
    if not actor.may(action):
        raise AccessDenied(actor, action)
    return actor


def _rules(text: str | None) -> tuple[str, ...]:
    """`a@x.com, @y.com` → ("a@x.com", "@y.com"); lower case, blanks dropped, each checked."""
    rules = tuple(part.strip().lower() for part in (text or "").replace(";", ",").split(","))
    rules = tuple(rule for rule in rules if rule)
    for rule in rules:
        local, at, domain = rule.rpartition("@")
        if not at or not domain or "." not in domain or " " in rule:
            raise AccessConfigError(
                f"{rule!r} is neither an e-mail address nor a domain written as @example.com."
            )
        del local
    return rules


@dataclass(frozen=True)
class RolePolicy:
    """E-mail addresses and domains per role; the highest matching role wins."""

    admins: tuple[str, ...] = ()
    support: tuple[str, ...] = ()
    viewers: tuple[str, ...] = ()
    default: Role | None = None  # the role of a signed-in person no rule names (None: refused)
    source: str = field(default="environment", compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RolePolicy:
        """`CONSOLE_ADMINS`, `CONSOLE_SUPPORT`, `CONSOLE_VIEWERS` (comma-separated addresses or
        @domains) and `CONSOLE_DEFAULT_ROLE`; raises `AccessConfigError` on anything unusable."""
        env = os.environ if environ is None else environ
        default = env.get("CONSOLE_DEFAULT_ROLE", "").strip()
        return cls(
            admins=_rules(env.get("CONSOLE_ADMINS")),
            support=_rules(env.get("CONSOLE_SUPPORT")),
            viewers=_rules(env.get("CONSOLE_VIEWERS")),
            default=Role.parse(default) if default else None,
        )

    def role_for(self, email: str | None) -> Role | None:
        """The role of the person signed in with `email` (None: not let in)."""
        address = (email or "").strip().lower()
        if "@" not in address:
            return self.default
        domain = "@" + address.rpartition("@")[2]
        for role, rules in ((Role.ADMIN, self.admins), (Role.SUPPORT, self.support),
                            (Role.VIEWER, self.viewers)):  # fmt: skip
            if address in rules or domain in rules:
                return role
        return self.default

    @property
    def empty(self) -> bool:
        """No rule and no default: nobody signing in would be let in."""
        return not (self.admins or self.support or self.viewers or self.default)


# How people reach the console.
OIDC = "oidc"  # `[auth]` in .streamlit/secrets.toml: st.login
PROXY = "proxy"  # CONSOLE_BEHIND_SIGN_IN=true: a sign-in proxy in front names the person
LOCAL = "local"  # the embedded sandbox without [auth]: one local admin, said plainly
REFUSE = "refuse"  # real Lean credentials and no sign-in at all: the console will not start


def gate_mode(*, auth_configured: bool, lean_credentials: bool, behind_sign_in: bool) -> str:
    """Which gate applies. Real customer data never sits behind no sign-in by accident."""
    if auth_configured:
        return OIDC
    if behind_sign_in:
        return PROXY
    if not lean_credentials:
        return LOCAL
    return REFUSE


def behind_sign_in(environ: Mapping[str, str] | None = None) -> bool:
    """`CONSOLE_BEHIND_SIGN_IN=true`: the operator says another sign-in guards the console."""
    env = os.environ if environ is None else environ
    return env.get("CONSOLE_BEHIND_SIGN_IN", "").strip().lower() in ("1", "true", "yes", "on")


PROXY_USER_HEADER = "X-Forwarded-Email"


def proxy_user_header(environ: Mapping[str, str] | None = None) -> str:
    """The request header in which the sign-in proxy names the person (oauth2-proxy's default)."""
    env = os.environ if environ is None else environ
    return env.get("CONSOLE_PROXY_USER_HEADER", "").strip() or PROXY_USER_HEADER
