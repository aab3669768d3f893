"""The reconciler as a scheduler: when a charger's pass runs, in what order its steps run, how
many run at once, what is retried and how the outcome is recorded.

The steps are `ScriptedStep`s that answer what each test says; the tests wait for passes to
end on the reporter's queue (or for a step to be entered), never on the clock.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from controller.converge.base import StepResult, TransportFailure
from controller.values.commands import CallFailed, FailureKind
from tests.fakes import Gate, ScriptedStep
from tests.unit.reconciler.conftest import Make, charger, fleet_of

FLEET = fleet_of(charger(1), charger(2), charger(3), charger(4))
TIMEOUT = CallFailed(FailureKind.TIMEOUT, "GetConfiguration", "no answer in 30 s")


async def test_a_pass_runs_when_a_charger_boots_and_records_its_conditions(make: Make) -> None:
    step = ScriptedStep("only")
    rig = await make(FLEET, [step])
    await rig.connect("CP-1")  # boots: no waiting for the boot grace
    assert await rig.reporter.outcome() == "InSync"
    assert step.ran == ["CP-1"]
    synced = rig.store.condition("CP-1")
    assert (synced.status, synced.reason, synced.message) == ("True", "InSync", "in sync")
    assert rig.store.condition("CP-1", "Connected").status == "True"
    assert rig.store.condition("CP-1", "Ready").status == "True"
    assert rig.reconciler.passes("CP-1") == 1
    assert rig.reconciler.stats.outcomes == {"InSync": 1}


async def test_a_charger_that_does_not_boot_is_reconciled_after_the_boot_grace(
    make: Make,
) -> None:
    step = ScriptedStep("only")
    rig = await make(FLEET, [step], boot_grace=0.01)
    await rig.connect("CP-1", boot=False)
    assert await rig.reporter.outcome() == "InSync"
    assert step.ran == ["CP-1"]


async def test_a_desired_state_change_runs_a_pass_over_the_chargers_it_concerns(
    make: Make,
) -> None:
    step = ScriptedStep("only")
    rig = await make(FLEET, [step])
    await rig.connect("CP-1")
    await rig.connect("CP-2")
    await rig.reporter.outcomes_of(2)
    edited = fleet_of(charger(1), charger(2, "LightIntensity: 80"), charger(3), charger(4))
    await rig.edit(edited)
    assert await rig.reporter.outcome() == "InSync"
    assert step.ran[2:] == ["CP-2"]


async def test_the_resync_timer_runs_passes_without_anything_waking_the_charger(
    make: Make,
) -> None:
    step = ScriptedStep("only")
    rig = await make(FLEET, [step], resync_interval=0.01)
    await rig.connect("CP-1")
    assert await rig.reporter.outcomes_of(3) == ["InSync"] * 3
    assert rig.reconciler.passes("CP-1") >= 3


async def test_a_step_can_wake_a_charger_itself(make: Make) -> None:
    step = ScriptedStep("only")
    rig = await make(FLEET, [step])
    await rig.connect("CP-1")
    await rig.reporter.outcome()
    assert step.wake is not None
    step.wake("CP-1")
    await rig.reporter.outcome()
    assert step.ran == ["CP-1", "CP-1"]


async def test_a_transport_failure_is_retried_with_backoff_until_it_passes(make: Make) -> None:
    step = ScriptedStep(
        "flaky", TransportFailure(TIMEOUT), TransportFailure(TIMEOUT), StepResult(True)
    )
    rig = await make(FLEET, [step])  # the resync is 300 s away: only the backoff retries
    await rig.connect("CP-1")
    assert await rig.reporter.outcomes_of(3) == ["Retry", "Retry", "InSync"]
    assert ("CP-1", "Synced") in rig.store.recorded_conditions  # written by the pass that passed


async def test_the_backoff_doubles_up_to_its_maximum_with_jitter_below_it(make: Make) -> None:
    drawn: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        drawn.append((low, high))
        return 0.001  # the retry comes at once: this test is about the ceilings

    failures = [TransportFailure(TIMEOUT)] * 5
    step = ScriptedStep("flaky", *failures, StepResult(True))
    rig = await make(FLEET, [step], backoff_initial=2.0, backoff_max=10.0, jitter=uniform)
    await rig.connect("CP-1")
    assert await rig.reporter.outcomes_of(6) == ["Retry"] * 5 + ["InSync"]
    assert drawn == [(1.0, 2.0), (2.0, 4.0), (4.0, 8.0), (5.0, 10.0), (5.0, 10.0)]


async def test_a_step_that_crashes_is_retried_with_backoff_and_logged(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    after = ScriptedStep("after")
    rig = await make(FLEET, [ScriptedStep("broken", RuntimeError("bug"), StepResult(True)), after])
    await rig.connect("CP-1")
    assert await rig.reporter.outcomes_of(2) == ["Retry", "InSync"]
    assert after.ran == ["CP-1"]  # not in the pass that crashed
    assert any("CP-1: reconcile failed" in r.getMessage() for r in caplog.records)


async def test_an_answer_that_blocks_is_shown_and_waits_for_the_next_wake_not_a_backoff(
    make: Make,
) -> None:
    step = ScriptedStep("refused", StepResult(False, "refused: Rejected"))
    rig = await make(FLEET, [step])
    await rig.connect("CP-1")
    assert await rig.reporter.outcome() == "Blocked"
    synced = rig.store.condition("CP-1")
    assert (synced.status, synced.reason, synced.message) == (
        "False",
        "Pending",
        "refused: Rejected",
    )
    assert rig.store.condition("CP-1", "Ready").status == "False"
    rig.reconciler.wake("CP-1")  # only a wake (or the resync) runs it again
    assert await rig.reporter.outcome() == "Blocked"
    assert step.ran == ["CP-1", "CP-1"]


async def test_steps_run_in_order_and_each_ones_message_is_shown(make: Make) -> None:
    order: list[str] = []
    steps = [
        ScriptedStep("first", StepResult(True, "first: done", differed=True), order=order),
        ScriptedStep("second", StepResult(False, "second: refused"), order=order),
        ScriptedStep("third", StepResult(True), order=order),
    ]
    rig = await make(FLEET, steps)
    await rig.connect("CP-1")
    assert await rig.reporter.outcome() == "Blocked"
    assert order == ["first", "second", "third"]  # a step that is not synced stops nothing
    assert rig.store.condition("CP-1").message == "first: done; second: refused"


async def test_a_pass_where_something_differed_and_is_now_synced_converged(make: Make) -> None:
    rig = await make(FLEET, [ScriptedStep("a", StepResult(True, differed=True)), ScriptedStep("b")])
    await rig.connect("CP-1")
    assert await rig.reporter.outcome() == "Converged"


async def test_a_step_hands_what_it_learnt_to_the_steps_after_it(make: Make) -> None:
    first = ScriptedStep("reader")
    second = ScriptedStep("user")
    rig = await make(FLEET, [first, second])
    await rig.connect("CP-1")
    await rig.reporter.outcome()
    learnt = replace(first.seen[0].record, ocpp_version="1.6")
    first.results = [StepResult(True, context=replace(first.seen[0], record=learnt))]
    rig.reconciler.wake("CP-1")
    await rig.reporter.outcome()
    assert second.seen[0].record.ocpp_version is None
    assert second.seen[1].record == learnt


async def test_a_step_that_halts_the_pass_says_alone_what_the_charger_waits_for(
    make: Make,
) -> None:
    after = ScriptedStep("after")
    steps = [
        ScriptedStep("keys", StepResult(False, "HeartbeatInterval: RebootRequired")),
        ScriptedStep("reboot", StepResult(False, "rebooting to apply changes", halt=True)),
        after,
    ]
    rig = await make(FLEET, steps)
    await rig.connect("CP-1")
    assert await rig.reporter.outcome() == "WaitingForReboot"
    assert after.ran == []
    assert rig.store.condition("CP-1").message == "rebooting to apply changes"


async def test_drifted_values_are_reported(make: Make) -> None:
    rig = await make(FLEET, [ScriptedStep("keys", StepResult(True, differed=True, drifted=2))])
    await rig.connect("CP-1")
    await rig.reporter.outcome()
    assert rig.reporter.drifts == [2]
    assert rig.reconciler.stats.drifted_keys == 2


async def test_the_semaphore_bounds_how_many_chargers_are_reconciled_at_once(
    make: Make,
) -> None:
    gate = Gate()
    step = ScriptedStep("slow", gate=gate)
    rig = await make(FLEET, [step], max_concurrent=2)
    for n in range(1, 5):
        await rig.connect(f"CP-{n}")
    first = {await step.entered.get(), await step.entered.get()}
    assert step.active == 2 and step.entered.empty()
    gate.open.set()
    assert await rig.reporter.outcomes_of(4) == ["InSync"] * 4
    assert sorted(step.ran) == ["CP-1", "CP-2", "CP-3", "CP-4"]
    assert len(first) == 2
    assert step.most_active == 2


async def test_a_charger_that_disconnects_is_forgotten_and_its_pass_cancelled(
    make: Make,
) -> None:
    gate = Gate()
    step = ScriptedStep("slow", gate=gate)
    rig = await make(FLEET, [step])
    await rig.connect("CP-1")
    await step.entered.get()
    await rig.disconnect("CP-1")
    assert rig.reconciler.passes("CP-1") == 0
    gate.open.set()
    await rig.connect("CP-1")
    assert await rig.reporter.outcome() == "InSync"  # the new session's pass, not the old one
    assert step.ran == ["CP-1", "CP-1"]


async def test_a_charger_the_fleet_does_not_declare_is_skipped(make: Make) -> None:
    step = ScriptedStep("only")
    rig = await make(FLEET, [step])
    await rig.connect("CP-9")
    assert await rig.reporter.outcome() == "Skipped"
    assert step.ran == []


async def test_closing_cancels_every_worker(make: Make) -> None:
    gate = Gate()
    rig = await make(FLEET, [ScriptedStep("slow", gate=gate)])
    await rig.connect("CP-1")
    await gate.reached.wait()
    await asyncio.wait_for(rig.reconciler.close(), 5.0)
    assert rig.reconciler.passes("CP-1") == 0
