"""Password rotation: a changed declared password is set on the connected charger.

A charger's password is read from its credential reference when needed (a watched Kubernetes
Secret in the operator; a file, an environment variable or a mounted Secret with `serve`), so
it may change while the charger is connected with the old one. Each pass this step reads the
declared password, asks the central system's `PasswordBook` where the charger stands with it
(the connection used it; it accepted it; it refused it), plans with
`planning.credentials.plan_rotation` (pure) and, when the password is to be set, sends the
version's password key (the binding's `password_key`: AuthorizationKey, or
SecurityCtrlr.BasicAuthPassword) through the same ChangeConfiguration / SetVariables command as
every key. The charger uses it from its next connection; until then the handshake still
accepts its previous password (the book), and once it connected with the new one only that is
accepted.

What the step records is a key status (`PASSWORD_KEY`, with no value) and an Event at each
turn: set, rotated, or not set and why (a profile that uses no password, a value the key does
not take, a charger that refused it). A refusal is not retried while the password stays
declared. No password appears in a log line, an Event, a status or the message log (the
session masks it there: `ocpp.redaction`).

A changed Secret wakes the chargers that name it at once (`PasswordBook.announce`, from the
Kubernetes source); a changed file or environment variable is found at the next resync.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable
from datetime import UTC, datetime

from controller.converge.base import PassContext, Step, StepResult
from controller.converge.statuses import KeyStatusBook
from controller.fleet.credentials import SecretResolver, SecretUnavailable
from controller.fleet.model import Fleet
from controller.ocpp.central import CentralSystem
from controller.ocpp.passwords import Standing
from controller.ocpp.versions import BY_OCPP_VERSION
from controller.planning.credentials import (
    PASSWORD_KEY,
    PASSWORD_PROFILES,
    RotationKind,
    answered,
    password_problem,
    plan_rotation,
    rotation_event,
    rotation_status,
)
from controller.resources.charger import SecretReference
from controller.values.commands import CallFailed, ConfigStatus
from controller.values.records import KeyState, KeyStatus

log = logging.getLogger("chargectl.reconciler")

CREDENTIALS_STEP = "credentials"


class CredentialStep(Step):
    """Sets a changed declared password on its charger; see the module."""

    name = CREDENTIALS_STEP

    def __init__(self, central: CentralSystem, statuses: KeyStatusBook | None = None) -> None:
        self.central = central
        self.statuses = statuses or KeyStatusBook(central.store)
        central.passwords.subscribe(self._changed)

    @property
    def status_keys(self) -> frozenset[str]:
        return frozenset({PASSWORD_KEY})

    def _changed(self, identities: Iterable[str]) -> None:
        if self.wake is not None:
            for identity in identities:
                self.wake(identity)

    def wake_on_fleet_change(self, old: Fleet, new: Fleet) -> Collection[str]:
        """Chargers whose security (profile, password reference) changed."""
        woken = []
        for loaded in new.chargers.values():
            before = old.charger_by_identity(loaded.resource.identity)
            if (
                before is not None
                and before.resource.spec.security != loaded.resource.spec.security
            ):
                woken.append(loaded.resource.identity)
        return woken

    async def run(self, ctx: PassContext) -> StepResult:
        identity = ctx.identity
        spec = ctx.charger.resource.spec
        security = spec.security
        ref = security.basic_auth_password
        previous = (await self.statuses.of(identity)).get(PASSWORD_KEY)
        if ref is None:
            if previous is not None:
                await self.statuses.forget(identity, [PASSWORD_KEY])
            return StepResult(True)
        book = ctx.central.passwords
        key = BY_OCPP_VERSION[spec.ocpp_version].password_key
        uses_password = security.profile in PASSWORD_PROFILES
        if uses_password:
            try:
                declared = await _resolve(book.resolver, ref)
            except SecretUnavailable as exc:
                return StepResult(False, f"password: cannot be read: {exc}")
            standing = book.standing(identity, declared)
            problem = password_problem(spec.ocpp_version, key, declared)
        else:  # not read at all: the profile does not use it
            declared, standing, problem = "", Standing(False, False, False, False), None
        rotation = plan_rotation(
            profile=security.profile,
            declared=True,
            in_use=standing.in_use,
            accepted=standing.accepted,
            refused=standing.refused,
            reverted=standing.reverted,
            problem=problem,
        )
        now = datetime.now(UTC)
        if rotation.kind is RotationKind.NONE:
            if previous is not None and previous.state is not KeyState.APPLIED:
                done = KeyStatus(
                    identity,
                    PASSWORD_KEY,
                    KeyState.APPLIED,
                    "",
                    now,
                    "the charger connected with the declared password",
                )
                await self._record(ctx, done, done=previous.state is KeyState.PENDING)
            return StepResult(True)
        if rotation.kind is RotationKind.AWAIT:
            return StepResult(True)
        if rotation.kind is RotationKind.CANNOT:
            status = rotation_status(identity, rotation, now)
            if previous is None or (previous.state, previous.detail) != (
                status.state,
                status.detail,
            ):
                await self._record(ctx, status)  # once: the same answer is not told again
            if not uses_password:
                return StepResult(True)  # nothing the charger could do: shown, not blocking
            return StepResult(False, f"password: {rotation.reason}")
        answer: ConfigStatus | CallFailed = await ctx.call(
            ctx.commands.change_configuration(key, declared)
        )
        status, took = answered(identity, key, answer, datetime.now(UTC))
        if took:
            book.accepted(identity, declared)
        else:
            book.refused(identity, declared)
        await self._record(ctx, status)
        if took:
            return StepResult(True, differed=True)
        return StepResult(False, f"password: {status.detail}", differed=True)

    async def _record(self, ctx: PassContext, status: KeyStatus, *, done: bool = False) -> None:
        await self.statuses.save(ctx.identity, [status])
        kind, message, data = rotation_event(status, done=done)
        await ctx.central.event(ctx.identity, kind, message, data)


async def _resolve(resolver: SecretResolver, ref: SecretReference) -> str:
    """The declared password; a Kubernetes Secret read by the `kubernetes` client (no store,
    nothing mounted) blocks, so it is read in a worker thread."""
    if ref.secret_key_ref is not None and resolver.store is None and resolver.secrets_dir is None:
        return await asyncio.to_thread(resolver.resolve, ref)
    return resolver.resolve(ref)
