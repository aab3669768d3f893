"""Availability: a charger declared Operative or Inoperative is made so (ChangeAvailability).

The plan (`planning.keys.plan_charger`, made by the configuration step from the connector
statuses the charger reported) says whether the charger differs. The configuration step sends
the plan's changes in the plan's order, this one among them, before reading the keys back;
this module is what sending it means: the change for the whole charger (connector 0), an event
when the charger answered, and the answer as the `availability` status, so a Rejected value is
shown and not sent again until the declared value changes. What an answer means is
`planning.answers.availability_status`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from controller.converge.base import PassContext
from controller.planning.answers import availability_status
from controller.planning.keys import PlannedAction
from controller.resources.settings import Availability
from controller.values.commands import CallFailed, Status
from controller.values.records import KeyStatus


async def change_availability(ctx: PassContext, action: PlannedAction) -> KeyStatus:
    """Send one planned ChangeAvailability; the status to record for its answer."""
    operative = action.wire_value == Availability.OPERATIVE.value
    answer: Status | CallFailed = await ctx.call(ctx.commands.change_availability(0, operative))
    if not isinstance(answer, CallFailed):
        await ctx.central.event(
            ctx.identity,
            "AvailabilityChanged",
            f"availability -> {action.wire_value}: {answer}",
            {},
        )
    return availability_status(ctx.identity, action, answer, datetime.now(UTC))
