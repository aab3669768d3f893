"""Availability: a charger declared Operative or Inoperative is made so (ChangeAvailability).

The plan (`planning.keys.plan_charger`, made by the configuration step from the connector
statuses the charger reported) says whether the charger differs; this step sends the change
for the whole charger (connector 0) and records the answer under the `availability` key, so a
Rejected value is shown and not sent again until the declared value changes. What an answer
means is `planning.answers.availability_status`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from controller.converge.base import PassContext, Step, StepResult
from controller.converge.statuses import KeyStatusBook
from controller.planning.answers import availability_status, blocked, verdict
from controller.planning.keys import AVAILABILITY_KEY, ActionKind, PlanStatus
from controller.resources.settings import Availability
from controller.values.commands import Status
from controller.values.errors import CallFailed
from controller.values.records import KeyStatus


class AvailabilityStep(Step):
    """Sends the plan's ChangeAvailability, if any; see the module."""

    name = AVAILABILITY_KEY

    def __init__(self, statuses: KeyStatusBook) -> None:
        self.statuses = statuses

    async def run(self, ctx: PassContext) -> StepResult:
        plan = ctx.plan
        if plan is None or plan.status is PlanStatus.IN_SYNC:
            return StepResult(True)
        updates: list[KeyStatus] = []
        for action in plan.actions:
            if action.kind is not ActionKind.CHANGE_AVAILABILITY or not action.wire_value:
                continue
            operative = action.wire_value == Availability.OPERATIVE.value
            answer: Status | CallFailed = await ctx.call(
                ctx.commands.change_availability(0, operative)
            )
            updates.append(availability_status(ctx.identity, action, answer, datetime.now(UTC)))
            if not isinstance(answer, CallFailed):
                await ctx.central.event(
                    ctx.identity,
                    "AvailabilityChanged",
                    f"availability -> {action.wire_value}: {answer}",
                    {},
                )
        await self.statuses.save(ctx.identity, updates)
        refused = blocked(plan, {AVAILABILITY_KEY})
        result = verdict(updates, refused)
        return StepResult(result.synced, result.message, differed=bool(updates or refused))
