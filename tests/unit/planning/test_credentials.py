"""Password rotation, planned (`planning.credentials`): pure, no password ever an input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controller.planning.credentials import (
    PASSWORD_KEY,
    RotationKind,
    answered,
    password_problem,
    plan_rotation,
    rotation_event,
)
from controller.resources.settings import OcppVersion
from controller.values.commands import CallFailed, ConfigStatus, FailureKind
from controller.values.records import KeyState

AT = datetime(2026, 3, 1, tzinfo=UTC)
FACTS = {"declared": True, "in_use": False, "accepted": False, "refused": False,
         "reverted": False, "problem": None}  # fmt: skip


def plan(**facts: object) -> RotationKind:
    return plan_rotation(**{"profile": 1, **FACTS, **facts}).kind  # type: ignore[arg-type]


def test_a_changed_password_is_set_and_then_awaited() -> None:
    assert plan() is RotationKind.SET
    assert plan(profile=2) is RotationKind.SET
    assert plan(accepted=True) is RotationKind.AWAIT
    assert plan(in_use=True) is RotationKind.NONE
    assert plan(declared=False) is RotationKind.NONE


@pytest.mark.parametrize(
    "facts",
    [
        {"profile": 0},
        {"profile": 3},
        {"refused": True},
        {"reverted": True, "refused": True},
        {"problem": "too short"},
    ],  # fmt: skip
)
def test_what_cannot_be_set_is_shown_not_sent(facts: dict[str, object]) -> None:
    rotation = plan_rotation(**{"profile": 1, **FACTS, **facts})  # type: ignore[arg-type]
    assert rotation.kind is RotationKind.CANNOT and rotation.reason


def test_a_password_must_fit_the_version_s_key_and_the_message_never_repeats_it() -> None:
    key = "SecurityCtrlr.BasicAuthPassword"
    problem = password_problem(OcppVersion.V201, key, "short-secret")
    assert problem is not None and "short-secret" not in problem
    assert password_problem(OcppVersion.V201, key, "a-long-enough-password") is None
    assert password_problem(OcppVersion.V16, "AuthorizationKey", "short-secret") is not None
    assert password_problem(OcppVersion.V16, "AuthorizationKey", "a-long-enough-password") is None


def test_the_answers_become_statuses_without_a_value() -> None:
    status, took = answered("CP-1", "AuthorizationKey", ConfigStatus.ACCEPTED, AT)
    assert took and status.state is KeyState.PENDING and status.value == ""
    assert status.key == PASSWORD_KEY
    status, took = answered("CP-1", "AuthorizationKey", ConfigStatus.REJECTED, AT)
    assert not took and status.state is KeyState.REJECTED
    status, took = answered("CP-1", "AuthorizationKey", ConfigStatus.NOT_SUPPORTED, AT)
    assert not took and status.state is KeyState.NOT_SUPPORTED
    error = CallFailed(FailureKind.CALL_ERROR, "ChangeConfiguration", "no", "NotSupported")
    status, took = answered("CP-1", "AuthorizationKey", error, AT)
    assert not took and status.state is KeyState.NOT_SUPPORTED
    assert rotation_event(status)[0] == "PasswordNotSet"
    assert rotation_event(status, done=True)[0] == "PasswordRotated"
