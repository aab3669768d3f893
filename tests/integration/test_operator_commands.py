"""Imperative commands through annotations of a Charger (`sources.kubernetes.annotations`):
the operator's serving process against kmock, a real central system and store, and a raw
OCPP 1.6 charger that answers what the central system sends it.

Run once: the charger gets exactly one Reset, the outcome lands in `status.commands` and an
Event, the charger's history names who asked; never again after a restart against the same
emulator and store (the next CALL the charger sees after the restart is the next command
asked, not the old Reset). A value that cannot be read is reported and sends nothing.
Everything waits on events: the emulator's served requests, the charger's socket.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from controller.runtime.operator import operator_options
from controller.runtime.serve import Running, ServeOptions, running
from controller.sources.kubernetes.annotations import BadAnnotation, parse
from controller.sources.kubernetes.api import ApiOrigin
from controller.sources.kubernetes.source import KubernetesOptions
from controller.sources.kubernetes.status import managed_fields
from tests.integration.rawclient import RawCharger
from tests.integration.test_operator import BOOT, DEPOT, TEAM, charger
from tests.kube import Cluster

RESET = "chargectl.io/reset"
UNLOCK = "chargectl.io/unlock"


@contextlib.asynccontextmanager
async def operating(kube: Cluster, store: Path) -> AsyncIterator[Running]:
    """The operator as `chargectl operator` wires it (annotation commands through
    `web.commands`), with no reconciler: the raw charger sees only what was asked."""
    serve = ServeOptions(
        paths=[], store_url=f"sqlite:///{store}", host="127.0.0.1", port=0, reconcile=False
    )
    kubernetes = KubernetesOptions(
        origin=ApiOrigin(url=kube.url), namespaces=("default",), quiet=0.05, write_status=False
    )
    async with running(operator_options(serve, kubernetes)) as server:
        yield server


def annotated(**annotations: str) -> dict[str, Any]:
    document = charger("cp-1", "CP-1")
    document["metadata"]["annotations"] = annotations
    return document


def record(kube: Cluster, command: str) -> dict[str, Any]:
    return dict((kube.status("Charger", "cp-1").get("commands") or {}).get(command) or {})


def events(kube: Cluster, reason: str) -> list[dict[str, Any]]:
    return [e for e in kube.events("Charger", "cp-1") if e.get("reason") == reason]


async def booted(server: Running) -> RawCharger:
    cp = await RawCharger.connect(server.url, "CP-1", subprotocols=["ocpp1.6"])
    reply = await cp.call("BootNotification", BOOT)
    assert reply[2]["status"] == "Accepted"
    return cp


async def test_an_annotation_command_runs_once_and_not_again_after_a_restart(
    kube: Cluster, tmp_path: Path
) -> None:
    store = tmp_path / "state.db"
    for document in (TEAM, DEPOT, annotated(**{RESET: "hard@2026-12-07T10:00:00Z"})):
        await kube.apply(document)
    async with operating(kube, store) as server:
        cp = await booted(server)  # connected here: this process holds its session
        call = await cp.next_server_call()
        assert call[2:] == ["Reset", {"type": "Hard"}]
        await cp.answer(call[1], {"status": "Accepted"})
        await kube.wait_for(lambda: record(kube, "reset").get("outcome") == "Accepted",
                            lambda: f"reset recorded: {record(kube, 'reset')}")  # fmt: skip
        shown = record(kube, "reset")
        assert shown["value"] == "hard@2026-12-07T10:00:00Z"
        assert "hard reset asked by annotation:chargectl.io/reset" in shown["message"]
        await kube.wait_for(lambda: events(kube, "CommandSent"), "a CommandSent Event")
        [event] = events(kube, "CommandSent")
        assert event["type"] == "Normal" and "Accepted" in event["message"]
        history = [e for e in await server.central.store.events("CP-1") if e.kind == "Command"]
        assert [e.data["requester"] for e in history] == ["annotation:chargectl.io/reset"]
        assert history[0].data["status"] == "Accepted"
        await cp.close()

    # A restart against the same emulator and store: the record in status says it was done.
    async with operating(kube, store) as server:
        cp = await booted(server)
        both = {
            RESET: "hard@2026-12-07T10:00:00Z",
            "chargectl.io/clear-cache": "@2026-12-07T11:00Z",
        }
        await kube.apply(annotated(**both))
        call = await cp.next_server_call()  # the first CALL since the restart
        assert call[2] == "ClearCache", call
        await cp.answer(call[1], {"status": "Accepted"})
        await kube.wait_for(lambda: record(kube, "clear-cache").get("outcome") == "Accepted",
                            "clear-cache recorded")  # fmt: skip
        assert record(kube, "reset") == shown  # untouched
        await kube.wait_for(lambda: len(events(kube, "CommandSent")) == 2, "its Event")

        # A new timestamp is a new command.
        await kube.apply(annotated(**{RESET: "soft@2026-12-08T10:00:00Z"}))
        call = await cp.next_server_call()
        assert call[2:] == ["Reset", {"type": "Soft"}]
        await cp.answer(call[1], {"status": "Rejected"})
        await kube.wait_for(lambda: record(kube, "reset").get("outcome") == "Rejected",
                            "the second reset recorded")  # fmt: skip
        await kube.wait_for(lambda: events(kube, "CommandFailed"), "a CommandFailed Event")
        await cp.close()


async def test_a_malformed_annotation_is_reported_and_sends_nothing(
    kube: Cluster, tmp_path: Path
) -> None:
    for document in (TEAM, DEPOT, annotated(**{RESET: "sideways@2026-12-07T10:00:00Z"})):
        await kube.apply(document)
    async with operating(kube, tmp_path / "state.db") as server:
        # Connected nowhere: any replica reports what cannot be read.
        await kube.wait_for(lambda: record(kube, "reset").get("outcome") == "Invalid",
                            lambda: f"reset recorded: {record(kube, 'reset')}")  # fmt: skip
        assert "reset takes hard or soft, not 'sideways'" in record(kube, "reset")["message"]
        await kube.wait_for(lambda: events(kube, "InvalidCommand"), "an InvalidCommand Event")
        [warning] = events(kube, "InvalidCommand")
        assert warning["type"] == "Warning"
        assert warning["message"].startswith("chargectl.io/reset: reset takes hard or soft")

        cp = await booted(server)
        # A connector out of range is refused by the commands' own rules (web.commands).
        bad = {RESET: "sideways@2026-12-07T10:00:00Z", UNLOCK: "0@2026-12-07T10:00:00Z"}
        await kube.apply(annotated(**bad))
        await kube.wait_for(lambda: record(kube, "unlock").get("outcome") == "Invalid",
                            "the bad unlock recorded")  # fmt: skip
        assert "connector must be a whole number from 1 to 99" in record(kube, "unlock")["message"]
        await kube.apply(annotated(**{**bad, UNLOCK: "1@2026-12-07T10:05:00Z"}))
        call = await cp.next_server_call()  # nothing was sent before this
        assert call[2:] == ["UnlockConnector", {"connectorId": 1}]
        await cp.answer(call[1], {"status": "Unlocked"})
        await kube.wait_for(lambda: record(kube, "unlock").get("outcome") == "Unlocked",
                            "the unlock recorded")  # fmt: skip
        await kube.wait_for(lambda: len(events(kube, "InvalidCommand")) == 2, "both Warnings")
        await cp.close()


def test_the_syntax() -> None:
    assert parse("reset", "hard@2026-12-07T10:00:00Z").body == {"command": "reset", "hard": True}
    assert parse("trigger", "MeterValues:2@2026-12-07T10:00:00+01:00").body == {
        "command": "trigger", "message": "MeterValues", "connector": 2}  # fmt: skip
    assert parse("clear-cache", "2026-12-07T10:00:00Z").body == {"command": "clear-cache"}
    refused = [("reset", "hard"), ("reset", "hard@2026-12-07T10:00:00"),
               ("unlock", "one@2026-12-07T10:00:00Z"), ("reset", "@yesterday")]  # fmt: skip
    for command, value in refused:
        try:
            parse(command, value)
        except BadAnnotation:
            continue
        raise AssertionError(f"{command}: {value} was read")


def test_the_status_writer_leaves_the_commands_record_alone() -> None:
    assert "commands" not in managed_fields("Charger")


async def test_a_command_left_sending_by_a_stopped_operator_is_never_sent_again(
    kube: Cluster, tmp_path: Path
) -> None:
    """An operator that died after writing `Sending` and before the answer: its successor
    reports Unknown and does not send the command a second time (at most once)."""
    value = "hard@2026-12-07T10:00:00Z"
    left = {"value": value, "outcome": "Sending", "at": "2026-12-07T10:00:01Z",
            "message": "hard reset asked by annotation:chargectl.io/reset"}  # fmt: skip
    for document in (TEAM, DEPOT):
        await kube.apply(document)
    await kube.create({**annotated(**{RESET: value}), "status": {"commands": {"reset": left}}})
    async with operating(kube, tmp_path / "state.db") as server:
        cp = await booted(server)
        await kube.wait_for(lambda: record(kube, "reset").get("outcome") == "Unknown",
                            lambda: f"reset recorded: {record(kube, 'reset')}")  # fmt: skip
        assert record(kube, "reset")["value"] == value
        await kube.apply(
            annotated(**{RESET: value, "chargectl.io/clear-cache": "@2026-12-07T11:00Z"})
        )
        call = await cp.next_server_call()  # no Reset came before it
        assert call[2] == "ClearCache", call
        await cp.answer(call[1], {"status": "Accepted"})
        await cp.close()
