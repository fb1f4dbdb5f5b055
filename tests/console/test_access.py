"""Roles from configuration, what each may do, and which gate applies."""

from __future__ import annotations

import pytest

from console.access import (
    LOCAL,
    LOCAL_ADMIN,
    OIDC,
    PROXY,
    REFUSE,
    AccessConfigError,
    AccessDenied,
    Actor,
    Role,
    RolePolicy,
    behind_sign_in,
    gate_mode,
    require,
)

POLICY = RolePolicy.from_env(
    {
        "CONSOLE_ADMINS": "Lead@Example.com",
        "CONSOLE_SUPPORT": "@example.com; sam@partner.sa",
        "CONSOLE_VIEWERS": "@partner.sa",
    }
)


@pytest.mark.parametrize(
    ("email", "role"),
    [
        ("lead@example.com", Role.ADMIN),  # the address beats its domain's rule
        ("LEAD@EXAMPLE.COM ", Role.ADMIN),
        ("anyone@example.com", Role.SUPPORT),
        ("sam@partner.sa", Role.SUPPORT),
        ("pat@partner.sa", Role.VIEWER),
        ("eve@example.com.evil.io", None),  # a domain rule is the whole domain, not a prefix
        ("eve@evil.io", None),
        ("", None),
        (None, None),
    ],
)
def test_the_highest_matching_rule_gives_the_role(email: str | None, role: Role | None) -> None:
    assert POLICY.role_for(email) == role


def test_a_default_role_lets_in_people_no_rule_names() -> None:
    policy = RolePolicy.from_env({"CONSOLE_DEFAULT_ROLE": "Viewer"})
    assert policy.role_for("new@anywhere.io") is Role.VIEWER
    assert not policy.empty
    assert RolePolicy.from_env({}).empty


@pytest.mark.parametrize(
    "env",
    [
        {"CONSOLE_ADMINS": "not-an-address"},
        {"CONSOLE_SUPPORT": "@nodot"},
        {"CONSOLE_VIEWERS": "a b@example.com"},
        {"CONSOLE_DEFAULT_ROLE": "root"},
    ],
)
def test_unusable_settings_are_refused_with_the_reason(env: dict[str, str]) -> None:
    with pytest.raises(AccessConfigError):
        RolePolicy.from_env(env)


def test_each_role_may_do_what_the_ones_below_may() -> None:
    viewer = Actor("v@x.io", "V", Role.VIEWER, "oidc")
    support = Actor("s@x.io", "S", Role.SUPPORT, "oidc")
    assert viewer.may("read") and not viewer.may("reveal")
    assert support.may("reveal") and support.may("verify_ownership")
    assert not support.may("trigger_refresh") and LOCAL_ADMIN.may("trigger_refresh")
    assert not support.may("something-new")  # an unknown action needs admin
    with pytest.raises(AccessDenied, match=r"Your role \(support\) cannot trigger data refreshes"):
        require(support, "trigger_refresh")
    with pytest.raises(AccessDenied):
        require(None, "read")
    assert require(support, "reveal") is support


@pytest.mark.parametrize(
    ("auth", "creds", "behind", "mode"),
    [
        (True, True, False, OIDC),
        (True, False, True, OIDC),
        (False, True, True, PROXY),
        (False, False, False, LOCAL),
        (False, True, False, REFUSE),  # real customer data, nobody signing in: no start
    ],
)
def test_the_gate(auth: bool, creds: bool, behind: bool, mode: str) -> None:
    assert gate_mode(auth_configured=auth, lean_credentials=creds, behind_sign_in=behind) == mode


def test_behind_sign_in_is_an_explicit_yes() -> None:
    assert behind_sign_in({"CONSOLE_BEHIND_SIGN_IN": "true"})
    assert not behind_sign_in({"CONSOLE_BEHIND_SIGN_IN": "maybe"})
    assert not behind_sign_in({})
