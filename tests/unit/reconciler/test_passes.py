"""One charger's passes through the first steps `serve` runs: configuration (keys and
availability) and reboot, against a fake charger, with the reconciler scheduling them.

What is shown and what is retried: a Rejected or not-applied value is shown and never sent
again; a CALLERROR to the configuration read is shown with the charger's error code (and, for
NotSupported / NotImplemented, not asked again during the session); a timeout is retried with
backoff. The tests wait for passes to end on the reporter's queue.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from controller.converge.base import PassContext, Step, StepResult
from controller.planning.keys import AVAILABILITY_KEY
from controller.store.base import Store
from controller.values.commands import CallFailed, ConfigStatus, FailureKind, Status
from controller.values.records import ChargerRecord, ConnectorStatus, KeyState, KeyStatus
from tests.fakes import Call, FakeCharger, Responder, ScriptedStep, always, in_turn
from tests.unit.reconciler.conftest import Make, Rig, charger, converging_steps, fleet_of

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LIGHT = fleet_of(charger(1, "LightIntensity: 50"))
NOT_IMPLEMENTED = CallFailed(
    FailureKind.CALL_ERROR, "GetConfiguration", "no such thing here", "NotImplemented"
)
INTERNAL_ERROR = CallFailed(FailureKind.CALL_ERROR, "GetConfiguration", "busy", "InternalError")
TIMEOUT = CallFailed(FailureKind.TIMEOUT, "GetConfiguration", "no answer in 30 s")


def only(key: str, answer: object) -> Responder:
    """A ChangeConfiguration responder: `answer` for `key`, the fake's own for the others."""
    return lambda call: answer if call.arguments["key"] == key else None


def changes(charger: FakeCharger, key: str) -> list[str]:
    """The values the charger was sent for `key`, in order."""
    return [a["value"] for a in charger.arguments("ChangeConfiguration") if a["key"] == key]


async def status(rig: Rig, key: str, identity: str = "CP-1") -> KeyStatus:
    return next(s for s in await rig.store.key_statuses(identity) if s.key == key)


def with_after(after: Step) -> Callable[[Store], list[Step]]:
    def steps(store: Store) -> list[Step]:
        return [*converging_steps(store), after]

    return steps


# --- configuration keys ------------------------------------------------------------------------


async def test_a_key_that_differs_is_changed_read_back_and_then_in_sync(make: Make) -> None:
    rig = await make(LIGHT)
    cp = rig.charger("CP-1")
    cp.configuration.update({"LightIntensity": "10", "HeartbeatInterval": "300"})
    await rig.connect("CP-1")
    assert await rig.reporter.outcome() == "Converged"
    assert changes(cp, "LightIntensity") == ["50"]
    assert cp.actions()[-1] == "GetConfiguration"  # the read-back
    assert (await status(rig, "LightIntensity")).state is KeyState.APPLIED
    synced = rig.store.condition("CP-1")
    assert synced.status == "True" and synced.message.startswith("converged: ")
    rig.reconciler.wake("CP-1")
    assert await rig.reporter.outcome() == "InSync"
    assert rig.store.condition("CP-1").message == "in sync"


async def test_a_rejected_key_is_shown_and_not_sent_again(make: Make) -> None:
    rig = await make(LIGHT, resync_interval=0.01)
    cp = rig.charger("CP-1")
    cp.respond["ChangeConfiguration"] = only("LightIntensity", ConfigStatus.REJECTED)
    await rig.connect("CP-1")
    assert await rig.reporter.outcomes_of(4) == ["Blocked"] * 4  # the resyncs
    assert changes(cp, "LightIntensity") == ["50"]
    assert (await status(rig, "LightIntensity")).state is KeyState.REJECTED
    assert "LightIntensity: rejected by the charger" in rig.store.condition("CP-1").message


async def test_accepted_but_still_the_old_value_is_not_applied_and_not_sent_again(
    make: Make,
) -> None:
    rig = await make(LIGHT, resync_interval=0.01)
    cp = rig.charger("CP-1")
    cp.configuration["LightIntensity"] = "10"
    cp.respond["ChangeConfiguration"] = only("LightIntensity", ConfigStatus.ACCEPTED)
    await rig.connect("CP-1")
    assert await rig.reporter.outcomes_of(3) == ["Blocked"] * 3
    assert changes(cp, "LightIntensity") == ["50"]
    light = await status(rig, "LightIntensity")
    assert (light.state, light.detail) == (
        KeyState.FAILED,
        "accepted, but the charger still reports '10'",
    )


async def test_a_key_changed_behind_our_back_is_drift_set_back_and_reported(make: Make) -> None:
    rig = await make(LIGHT)
    cp = rig.charger("CP-1")
    await rig.connect("CP-1")
    await rig.reporter.outcome()
    cp.configuration["LightIntensity"] = "99"  # another platform
    rig.reconciler.wake("CP-1")
    assert await rig.reporter.outcome() == "Converged"
    assert changes(cp, "LightIntensity")[-1] == "50"
    assert rig.reporter.drifts == [1]


async def test_statuses_of_keys_no_longer_declared_are_forgotten(make: Make) -> None:
    rig = await make(LIGHT)
    rig.charger("CP-1").respond["ChangeConfiguration"] = only(
        "LightIntensity", ConfigStatus.REJECTED
    )
    await rig.connect("CP-1")
    await rig.reporter.outcome()
    await rig.edit(fleet_of(charger(1)))
    await rig.reporter.outcome()
    assert all(s.key != "LightIntensity" for s in await rig.store.key_statuses("CP-1"))


# --- a CALLERROR to the configuration read -----------------------------------------------------


async def test_not_implemented_to_the_read_is_shown_with_its_code_and_not_asked_again(
    make: Make,
) -> None:
    after = ScriptedStep("after")
    rig = await make(LIGHT, with_after(after), resync_interval=0.01)
    cp = rig.charger("CP-1")
    cp.respond["GetConfiguration"] = always(NOT_IMPLEMENTED)
    await rig.connect("CP-1")
    assert await rig.reporter.outcomes_of(3) == ["Blocked"] * 3  # no Retry, no backoff
    synced = rig.store.condition("CP-1")
    assert synced.status == "False"
    assert synced.message == "GetConfiguration failed: NotImplemented: no such thing here"
    assert cp.actions() == ["GetConfiguration"]  # once this session, and nothing else sent
    assert after.ran == []  # the pass ends: no step acts on a charger it could not read
    assert rig.reconciler.stats.outcomes.get("Retry", 0) == 0


async def test_after_a_reboot_or_a_reconnect_the_read_is_asked_again(make: Make) -> None:
    rig = await make(LIGHT)
    cp = rig.charger("CP-1")
    cp.respond["GetConfiguration"] = always(NOT_IMPLEMENTED)
    await rig.connect("CP-1")
    await rig.reporter.outcome()
    await rig.reconciler.charger_booted("CP-1")
    await rig.reporter.outcome()
    assert cp.actions() == ["GetConfiguration"] * 2
    await rig.disconnect("CP-1")
    del cp.respond["GetConfiguration"]  # a firmware update later, it answers
    await rig.connect("CP-1")
    assert await rig.reporter.outcome() == "Converged"
    assert changes(cp, "LightIntensity") == ["50"]


async def test_a_declared_key_set_that_changed_is_asked_again(make: Make) -> None:
    rig = await make(LIGHT)
    cp = rig.charger("CP-1")
    cp.respond["GetConfiguration"] = always(NOT_IMPLEMENTED)
    await rig.connect("CP-1")
    await rig.reporter.outcome()
    await rig.edit(fleet_of(charger(1, "LightIntensity: 50\nMeterValueSampleInterval: 30")))
    await rig.reporter.outcome()
    assert cp.actions() == ["GetConfiguration"] * 2


async def test_another_callerror_to_the_read_is_shown_and_asked_at_the_next_pass(
    make: Make,
) -> None:
    rig = await make(LIGHT, resync_interval=0.01)
    cp = rig.charger("CP-1")
    cp.respond["GetConfiguration"] = always(INTERNAL_ERROR)
    await rig.connect("CP-1")
    assert await rig.reporter.outcomes_of(3) == ["Blocked"] * 3
    assert cp.actions().count("GetConfiguration") >= 3
    assert rig.store.condition("CP-1").message == "GetConfiguration failed: InternalError: busy"


async def test_a_timeout_to_the_read_is_retried_with_backoff(make: Make) -> None:
    rig = await make(LIGHT)  # no resync for 300 s: the retry is the backoff's
    cp = rig.charger("CP-1")
    cp.respond["GetConfiguration"] = in_turn(TIMEOUT, TIMEOUT)
    await rig.connect("CP-1")
    assert await rig.reporter.outcomes_of(3) == ["Retry", "Retry", "Converged"]
    assert changes(cp, "LightIntensity") == ["50"]


async def test_a_callerror_to_the_read_back_leaves_the_change_pending(make: Make) -> None:
    rig = await make(LIGHT)
    cp = rig.charger("CP-1")
    cp.respond["GetConfiguration"] = in_turn(None, INTERNAL_ERROR)
    await rig.connect("CP-1")
    assert await rig.reporter.outcome() == "Blocked"
    light = await status(rig, "LightIntensity")
    assert light.state is KeyState.PENDING
    assert light.detail == "accepted, not read back: GetConfiguration failed: InternalError: busy"
    rig.reconciler.wake("CP-1")  # read again: it did apply, so it is settled
    assert await rig.reporter.outcome() == "InSync"
    assert (await status(rig, "LightIntensity")).state is KeyState.APPLIED


# --- reboot --------------------------------------------------------------------------------------


def reboot_fleet(policy: str = "WhenIdle") -> list[str]:
    return fleet_of(charger(1, "WebSocketPingInterval: 45", policy=policy))


def needs_reboot(cp: FakeCharger) -> None:
    cp.configuration["WebSocketPingInterval"] = "60"

    def respond(call: Call) -> object:
        return (
            ConfigStatus.REBOOT_REQUIRED
            if call.arguments["key"] == "WebSocketPingInterval"
            else None
        )

    cp.respond["ChangeConfiguration"] = respond


async def test_a_change_that_needs_a_reboot_resets_an_idle_charger_once(make: Make) -> None:
    after = ScriptedStep("after")
    rig = await make(reboot_fleet(), with_after(after))
    cp = rig.charger("CP-1")
    needs_reboot(cp)
    await rig.connect("CP-1")
    assert await rig.reporter.outcome() == "WaitingForReboot"
    assert cp.arguments("Reset") == [{"hard": False}]
    assert rig.store.condition("CP-1").message == "rebooting to apply changes"
    assert after.ran == []  # the pass waits for the reboot
    sent = len(cp.calls)
    rig.reconciler.wake("CP-1")
    assert await rig.reporter.outcome() == "WaitingForReboot"
    assert len(cp.arguments("Reset")) == 1  # not reset again before it booted
    assert len(cp.calls) == sent  # and sent nothing at all on the connection it is leaving

    cp.configuration["WebSocketPingInterval"] = "45"  # rebooted, with the new value
    await rig.reconciler.charger_booted("CP-1")
    assert await rig.reporter.outcome() == "InSync"
    ping = await status(rig, "WebSocketPingInterval")
    assert (ping.state, ping.detail) == (KeyState.APPLIED, "read back after reboot")
    assert after.ran == ["CP-1"]


async def test_the_reboot_policy_never_holds_the_reset_back_and_says_so(make: Make) -> None:
    rig = await make(reboot_fleet("Never"))
    cp = rig.charger("CP-1")
    needs_reboot(cp)
    await rig.connect("CP-1")
    assert await rig.reporter.outcome() == "WaitingForReboot"
    assert cp.arguments("Reset") == []
    assert rig.store.condition("CP-1").message.startswith("reboot required: rebootPolicy is Never")


async def test_a_charger_with_a_transaction_running_is_not_reset(make: Make) -> None:
    rig = await make(reboot_fleet())
    cp = rig.charger("CP-1")
    needs_reboot(cp)
    rig.store.start("CP-1")
    await rig.connect("CP-1")
    assert await rig.reporter.outcome() == "WaitingForReboot"
    assert cp.arguments("Reset") == []
    assert "a transaction is running" in rig.store.condition("CP-1").message


# --- availability --------------------------------------------------------------------------------


def inoperative(rig: Rig) -> None:
    """The charger reports itself available (connector 0), the fleet declares it Inoperative."""
    rig.store.records["CP-1"] = ChargerRecord(
        "CP-1", False, booted_at=T0, connectors=(ConnectorStatus("CP-1", 0, "Available", T0),)
    )


AVAILABILITY = fleet_of(charger(1, settings="availability: Inoperative"))


async def test_a_charger_declared_inoperative_is_made_unavailable(make: Make) -> None:
    rig = await make(AVAILABILITY)
    inoperative(rig)
    cp = await rig.connect("CP-1")
    assert await rig.reporter.outcome() == "Converged"
    assert cp.arguments("ChangeAvailability") == [{"connector": 0, "operative": False}]
    assert (await status(rig, AVAILABILITY_KEY)).state is KeyState.APPLIED


async def test_a_refused_availability_is_shown_and_not_sent_again(make: Make) -> None:
    rig = await make(AVAILABILITY, resync_interval=0.01)
    inoperative(rig)
    cp = rig.charger("CP-1")
    cp.respond["ChangeAvailability"] = always(Status.REJECTED)
    await rig.connect("CP-1")
    assert await rig.reporter.outcomes_of(3) == ["Blocked"] * 3
    assert len(cp.arguments("ChangeAvailability")) == 1
    assert "availability: rejected by the charger" in rig.store.condition("CP-1").message


async def test_availability_goes_with_the_key_changes_before_their_read_back(
    make: Make,
) -> None:
    rig = await make(
        fleet_of(charger(1, "LightIntensity: 50", settings="availability: Inoperative\n"))
    )
    inoperative(rig)
    cp = rig.charger("CP-1")
    cp.configuration.update({"LightIntensity": "10", "HeartbeatInterval": "300"})
    await rig.connect("CP-1")
    assert await rig.reporter.outcome() == "Converged"
    sent = cp.actions()
    assert sent.index("ChangeAvailability") < len(sent) - 1 and sent[-1] == "GetConfiguration"
    assert rig.store.condition("CP-1").message == "converged: 2 Applied"


async def test_the_context_the_steps_after_configuration_see_has_the_record_and_plan(
    make: Make,
) -> None:
    seen: list[PassContext] = []

    class Looking(Step):
        name = "looking"

        async def run(self, ctx: PassContext) -> StepResult:
            seen.append(ctx)
            return StepResult(True)

    rig = await make(LIGHT, with_after(Looking()))
    rig.charger("CP-1").configuration["LightIntensity"] = "50"
    await rig.connect("CP-1")
    await rig.reporter.outcome()
    ctx = seen[0]
    assert ctx.plan is not None and ctx.record.configuration_at is not None
    assert any(k.key == "LightIntensity" for k in ctx.record.configuration or ())
    assert "looking" in ctx.owned_keys
