"""What a charger's answers mean (`planning.answers`): pure, so tested without a charger."""

from __future__ import annotations

from datetime import UTC, datetime

from controller.planning.answers import (
    availability_status,
    awaits_reboot,
    blocked,
    change_event,
    change_status,
    failed_read,
    settled,
    summary,
    unverified,
    verdict,
    verified,
)
from controller.planning.keys import (
    AVAILABILITY_KEY,
    ActionKind,
    ChargerPlan,
    PlannedAction,
    PlanStatus,
)
from controller.resources.settings import OcppVersion
from controller.values.commands import CallFailed, ConfigStatus, FailureKind, Status
from controller.values.records import KeyState, KeyStatus, ReportedKey

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def action(key: str, wire: str = "50", kind: ActionKind = ActionKind.SET_KEY) -> PlannedAction:
    return PlannedAction(kind, key, None, "10", wire, "the charger reports another value", None)


def plan(*actions: PlannedAction) -> ChargerPlan:
    status = PlanStatus.CHANGES if actions else PlanStatus.IN_SYNC
    return ChargerPlan("cp-1", "CP-1", OcppVersion.V16, status, actions)


def test_a_callerror_to_a_read_shows_the_action_and_the_chargers_code() -> None:
    failure = CallFailed(FailureKind.CALL_ERROR, "GetVariables", "not here", "NotImplemented")
    assert failed_read(failure) == "GetVariables failed: NotImplemented: not here"
    bare = CallFailed(FailureKind.CALL_ERROR, "GetConfiguration", "", "NotSupported")
    assert failed_read(bare) == "GetConfiguration failed: NotSupported"


def test_answers_to_a_change_are_recorded_as_states() -> None:
    light = action("LightIntensity")
    states = {
        answer: change_status("CP-1", light, answer, T0).state
        for answer in (ConfigStatus.ACCEPTED, ConfigStatus.REBOOT_REQUIRED, ConfigStatus.REJECTED)
    }
    assert states == {
        ConfigStatus.ACCEPTED: KeyState.PENDING,
        ConfigStatus.REBOOT_REQUIRED: KeyState.REBOOT_REQUIRED,
        ConfigStatus.REJECTED: KeyState.REJECTED,
    }
    failure = CallFailed(FailureKind.CALL_ERROR, "ChangeConfiguration", "no", "NotSupported")
    failed = change_status("CP-1", light, failure, T0)
    assert (failed.state, failed.detail) == (KeyState.FAILED, "CALLERROR NotSupported: no")


def test_the_event_of_a_change_says_old_new_layer_and_answer() -> None:
    light = action("LightIntensity")
    rejected = change_event(light, change_status("CP-1", light, ConfigStatus.REJECTED, T0))
    assert rejected.kind == "ConfigurationRejected"
    assert rejected.message == "LightIntensity: '10' -> '50' (declared): Rejected"
    assert rejected.data == {
        "key": "LightIntensity",
        "value": "50",
        "answer": "Rejected",
        "drift": False,
    }


def test_a_read_back_tells_applied_from_accepted_but_not_applied() -> None:
    changed = [action("A"), action("B")]
    report = [ReportedKey("a", "50"), ReportedKey("B", "10")]
    got = verified("CP-1", OcppVersion.V16, changed, report, T0)
    assert [(s.key, s.state) for s in got] == [("A", KeyState.APPLIED), ("B", KeyState.FAILED)]
    assert got[1].detail == "accepted, but the charger still reports '10'"


def test_a_read_back_that_failed_leaves_the_changes_pending() -> None:
    failure = CallFailed(FailureKind.CALL_ERROR, "GetConfiguration", "busy", "InternalError")
    got = unverified("CP-1", [action("A")], failure, T0)
    assert [(s.key, s.state) for s in got] == [("A", KeyState.PENDING)]
    assert "GetConfiguration failed: InternalError: busy" in got[0].detail


def test_waiting_keys_that_now_read_as_declared_settle_but_not_other_steps_keys() -> None:
    def waiting(key: str, state: KeyState) -> KeyStatus:
        return KeyStatus("CP-1", key, state, "1", T0)

    statuses = {
        "Rebooted": waiting("Rebooted", KeyState.REBOOT_REQUIRED),
        "StillOpen": waiting("StillOpen", KeyState.PENDING),
        "Refused": waiting("Refused", KeyState.REJECTED),
        AVAILABILITY_KEY: waiting(AVAILABILITY_KEY, KeyState.PENDING),
    }
    done = settled(statuses, plan(action("StillOpen")), {AVAILABILITY_KEY}, T0)
    assert [(s.key, s.state) for s in done] == [("Rebooted", KeyState.APPLIED)]


def test_the_verdict_is_synced_only_when_everything_applied() -> None:
    applied = KeyStatus("CP-1", "A", KeyState.APPLIED, "1", T0)
    rejected = KeyStatus("CP-1", "B", KeyState.REJECTED, "2", T0, "Rejected")
    assert verdict([applied], []).synced
    assert verdict([applied], []).message == "converged: 1 Applied"
    assert verdict([], []).message == ""
    cannot = action("C", kind=ActionKind.CANNOT)
    blocked_verdict = verdict([applied, rejected], [cannot])
    assert not blocked_verdict.synced
    assert blocked_verdict.message == "B: Rejected Rejected; C: the charger reports another value"
    assert summary([applied, rejected, applied]) == "2 Applied, 1 Rejected"


def test_blocked_picks_the_differences_that_cannot_be_applied() -> None:
    cannot_key = action("C", kind=ActionKind.CANNOT)
    cannot_availability = action(AVAILABILITY_KEY, kind=ActionKind.CANNOT)
    the_plan = plan(action("A"), cannot_key, cannot_availability)
    assert blocked(the_plan, but={AVAILABILITY_KEY}) == [cannot_key]
    assert blocked(the_plan, {AVAILABILITY_KEY}) == [cannot_availability]


def test_availability_answers_and_reboots() -> None:
    change = action(AVAILABILITY_KEY, "Inoperative", ActionKind.CHANGE_AVAILABILITY)
    assert availability_status("CP-1", change, Status.ACCEPTED, T0).state is KeyState.APPLIED
    assert availability_status("CP-1", change, Status.SCHEDULED, T0).state is KeyState.PENDING
    assert availability_status("CP-1", change, Status.FAILED, T0).state is KeyState.REJECTED
    failure = CallFailed(FailureKind.CALL_ERROR, "ChangeAvailability", "no", "NotSupported")
    assert availability_status("CP-1", change, failure, T0).state is KeyState.FAILED
    assert awaits_reboot([KeyStatus("CP-1", "A", KeyState.REBOOT_REQUIRED, "1", T0)])
    assert not awaits_reboot([KeyStatus("CP-1", "A", KeyState.APPLIED, "1", T0)])
