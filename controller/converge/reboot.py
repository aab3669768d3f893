"""Reboots that apply changes: a soft Reset when a change needs one and the policy allows it.

A charger that answered RebootRequired to a change applies it only after it restarts. Whether
it may be restarted now is `planning.maintenance.may_reboot` (pure): the charger's reboot
policy, its location's maintenance windows, and whether it is idle (no open transaction).
Either way the pass ends here, waiting: either for the reboot, or for the policy to allow one
(the charger's Synced condition says which). One Reset is sent per boot: until the charger
sends BootNotification again, later passes wait rather than reset it again; one that accepted
the Reset is sent nothing at all on its old connection (`awaited`). After the reboot
the configuration step reads the keys back and settles them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from controller.converge.base import PassContext, Step, StepResult
from controller.converge.statuses import KeyStatusBook
from controller.planning.answers import awaits_reboot
from controller.planning.keys import PlanStatus
from controller.planning.maintenance import may_reboot
from controller.values.commands import CallFailed, Status

REBOOTING = "rebooting to apply changes"


class RebootStep(Step):
    """Resets a charger whose accepted changes wait for a reboot, when allowed; see the module."""

    name = "reboot"

    def __init__(self, statuses: KeyStatusBook) -> None:
        self.statuses = statuses
        self._requested: set[str] = set()
        """Chargers sent a Reset that have not booted since."""
        self._resetting: set[str] = set()
        """Of those, the ones that accepted it: nothing more goes to them before they boot."""

    @property
    def status_keys(self) -> frozenset[str]:
        return frozenset()  # it reads the configuration's statuses and records none

    async def run(self, ctx: PassContext) -> StepResult:
        if ctx.plan is None or ctx.plan.status is PlanStatus.IN_SYNC:
            return StepResult(True)
        if not awaits_reboot((await self.statuses.of(ctx.identity)).values()):
            return StepResult(True)
        spec = ctx.charger.resource.spec
        location = ctx.fleet.locations.get(spec.location)
        decision = may_reboot(
            spec.reboot_policy,
            idle=not await ctx.central.open_transactions(ctx.identity),
            windows=location.resource.spec.maintenance_window if location else [],
            timezone=location.resource.spec.timezone if location else "UTC",
            at=datetime.now(UTC),
        )
        if not decision.allowed:
            return StepResult(False, f"reboot required: {decision.reason}", halt=True)
        if ctx.identity in self._requested:
            return StepResult(False, REBOOTING, halt=True)
        answer: Status | CallFailed = await ctx.call(ctx.commands.reset(hard=False))
        await ctx.central.event(
            ctx.identity, "Reboot", f"soft reset for changes that need a reboot: {answer}", {}
        )
        self._requested.add(ctx.identity)
        if answer is Status.ACCEPTED:
            self._resetting.add(ctx.identity)
        return StepResult(False, REBOOTING, halt=True)

    def awaited(self, identity: str) -> str | None:
        return REBOOTING if identity in self._resetting else None

    def booted(self, identity: str) -> None:
        self._requested.discard(identity)
        self._resetting.discard(identity)

    def forget(self, identity: str) -> None:
        self._requested.discard(identity)
        self._resetting.discard(identity)
