"""Threat: where a location admits chargers the fleet does not declare, someone on the chargers'
network connects under made-up identities, to fill the store without end, or to charge as
the fleet does and have it billed to a real card's team.

Pending chargers are kept within `max_pending`: for a new one beyond it, the oldest is
forgotten, and disconnected. An unknown charger is recorded at the location whose URL it came
through. Its transactions are answered as OCPP asks but are not the fleet's: not exported, not
in any sum, kept only in its message log and as an event. A real central system on loopback,
a real SQLite file, and bare OCPP-J chargers (tests/integration/rawclient.py).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from controller.cli.app import main
from controller.runtime.serve import Running, ServeOptions, running
from tests.integration.fleets import write_fleet
from tests.integration.rawclient import RawCharger

NOW = "2026-11-25T10:00:00Z"
LATER = "2026-11-25T10:30:00Z"
END = "2026-11-25T11:00:00Z"
BOOT_16 = {"chargePointVendor": "Alfen", "chargePointModel": "NG910"}
BOOT_201 = {"reason": "PowerUp", "chargingStation": {"vendorName": "ABB", "model": "Terra AC"}}
CARD = "04AABBCC"
"""The depot's card of team ops (tests/integration/fleets.py): accepted at the depot."""

YARD = """apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {name: yard}
spec:
  team: ops
  displayName: Yard
  tariff: standard
  acceptedCards: {teams: [ops]}
  allowUnknownChargers: true
"""


@dataclass
class Served:
    running: Running
    http: aiohttp.ClientSession

    async def unknown(self, identity: str, protocol: str = "ocpp1.6") -> RawCharger:
        """A charger not in the fleet, connected through the yard's URL and booted: Pending."""
        cp = await RawCharger.connect(f"{self.running.url}/yard", identity, subprotocols=[protocol])
        boot = BOOT_16 if protocol == "ocpp1.6" else BOOT_201
        reply = await cp.call("BootNotification", boot)
        assert reply[2]["status"] == "Pending", reply
        return cp

    async def get(self, path: str) -> Any:
        assert self.running.web is not None
        async with self.http.get(f"{self.running.web.url}{path}") as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def metric(self, name: str) -> float:
        assert self.running.web is not None
        async with self.http.get(f"{self.running.web.url}/metrics") as response:
            text = await response.text()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name:
                    return sample.value
        raise AssertionError(f"no metric {name}")

    async def events(self, identity: str, kind: str) -> list[str]:
        await self.running.central.store.flush()
        events = await self.running.central.store.events(identity)
        return [event.message for event in events if event.kind == kind]


@asynccontextmanager
async def serve(root: Path, max_pending: int = 1000) -> AsyncIterator[Served]:
    """The depot's fleet and a yard that admits unknown chargers; `--allow-unknown` is off."""
    fleet = write_fleet(root, protected=False)
    (fleet / "yard.yaml").write_text(YARD)
    options = ServeOptions(
        reconcile=False,  # the chargers below answer nothing
        paths=[fleet],
        store_url=store_url(root),
        port=0,
        http_port=0,
        call_timeout=2.0,
        max_pending=max_pending,
    )
    async with running(options) as started, aiohttp.ClientSession() as http:
        yield Served(started, http)


def store_url(root: Path) -> str:
    return f"sqlite:///{root / 'state.db'}"


async def start_16(cp: RawCharger, meter: int = 1000) -> list[Any]:
    return await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": CARD, "meterStart": meter, "timestamp": NOW},
    )


async def stop_16(cp: RawCharger, transaction_id: int, meter: int = 13300) -> list[Any]:
    return await cp.call(
        "StopTransaction",
        {"transactionId": transaction_id, "meterStop": meter, "timestamp": END, "idTag": CARD},
    )


def event_201(event_type: str, seq_no: int, at: str, wh: int, **extra: Any) -> dict[str, Any]:
    trigger = {"Started": "Authorized", "Updated": "MeterValuePeriodic", "Ended": "EVDeparted"}
    return {
        "eventType": event_type,
        "timestamp": at,
        "triggerReason": trigger[event_type],
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": "TX-STRANGER", **extra},
        "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": CARD, "type": "ISO14443"},
        "meterValue": [
            {
                "timestamp": at,
                "sampledValue": [{"value": wh, "measurand": "Energy.Active.Import.Register"}],
            }
        ],
    }


async def test_beyond_max_pending_the_oldest_pending_charger_is_forgotten_and_disconnected(
    tmp_path: Path,
) -> None:
    async with serve(tmp_path, max_pending=3) as served:
        chargers = [await served.unknown(f"CP-U{n}") for n in range(1, 5)]

        await asyncio.wait_for(chargers[0].connection.wait_closed(), 5)
        store = served.running.central.store
        assert await store.charger("CP-U1") is None
        assert [c.identity for c in await store.pending_chargers()] == ["CP-U2", "CP-U3", "CP-U4"]
        listed = await served.get("/api/chargers")
        assert [c["identity"] for c in listed["chargers"] if c["pending"]] == [
            "CP-U2",
            "CP-U3",
            "CP-U4",
        ]
        assert await served.metric("chargectl_pending_chargers") == 3
        assert await served.metric("chargectl_pending_chargers_forgotten_total") == 1
        reply = await chargers[1].call("Heartbeat", {})  # the others stay connected
        assert reply[0] == 3


async def test_an_unknown_charger_is_pending_at_the_location_whose_url_it_came_through(
    tmp_path: Path,
) -> None:
    async with serve(tmp_path) as served:
        await served.unknown("CP-NEW")

        at_yard = await served.get("/api/chargers?location=yard")
        assert [(c["identity"], c["pending"], c["location"]) for c in at_yard["chargers"]] == [
            ("CP-NEW", True, "yard")
        ]
        at_depot = await served.get("/api/chargers?location=depot")
        assert "CP-NEW" not in [c["identity"] for c in at_depot["chargers"]]
        yard = await served.get("/api/locations/yard")
        assert [c["identity"] for c in yard["pendingChargers"]] == ["CP-NEW"]
        assert (yard["chargers"], yard["summary"]["pending"]) == ([], 1)
        record = await served.running.central.store.charger("CP-NEW")
        assert record is not None and (record.pending, record.pending_location) == (True, "yard")


def test_a_transaction_of_an_unknown_charger_is_not_exported(tmp_path: Path) -> None:
    async def charge_at_both() -> int:
        async with serve(tmp_path) as served:
            known = await RawCharger.connect(served.running.url, "CP-16", subprotocols=["ocpp1.6"])
            real = (await start_16(known))[2]["transactionId"]
            await stop_16(known, real)
            stranger = await served.unknown("CP-STRANGER")
            refused = (await start_16(stranger))[2]["transactionId"]
            await stop_16(stranger, refused)
            return int(real)

    real = asyncio.run(charge_at_both())
    exported = CliRunner().invoke(
        main,
        [
            "export",
            "transactions",
            "--fleet",
            str(tmp_path / "fleet"),
            "--store",
            store_url(tmp_path),
        ],
    )

    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(exported.output)))
    assert [(row["transaction_id"], row["charger"], row["team"]) for row in rows] == [
        (str(real), "cp-16", "ops")
    ]


async def test_a_transaction_of_an_unknown_charger_counts_nowhere_and_stays_in_its_log(
    tmp_path: Path,
) -> None:
    async with serve(tmp_path) as served:
        cp = await served.unknown("CP-STRANGER")
        started = await start_16(cp)
        transaction_id = started[2]["transactionId"]
        assert isinstance(transaction_id, int) and transaction_id < 0  # names nothing stored
        assert started[2]["idTagInfo"]["status"] == "Invalid"
        await cp.call(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": transaction_id,
                "meterValue": [
                    {
                        "timestamp": LATER,
                        "sampledValue": [
                            {"value": "7000", "measurand": "Energy.Active.Import.Register"},
                            {"value": "11.04", "measurand": "Power.Active.Import", "unit": "kW"},
                        ],
                    }
                ],
            },
        )

        charger = await served.get("/api/chargers/CP-STRANGER")
        assert (charger["openTransactions"], charger["transactions"]) == ([], [])
        yard = await served.get("/api/locations/yard")
        assert yard["summary"]["charging"] == 0 and yard["summary"]["watts"] is None
        assert yard["pendingChargers"][0]["openTransactions"] == []
        stopped = await stop_16(cp, transaction_id)
        assert stopped[0] == 3 and stopped[2]["idTagInfo"]["status"] == "Invalid"

        assert await served.running.central.store.transactions() == []
        log = await served.get("/api/chargers/CP-STRANGER/log")
        actions = [e["action"] for e in log["entries"] if e["direction"] == "received"]
        assert actions == ["BootNotification", "StartTransaction", "MeterValues", "StopTransaction"]
        assert await served.events("CP-STRANGER", "TransactionRefused") == [
            f"transaction on connector 1 with id tag {CARD} not recorded: the charger is not in "
            f"the fleet (answered with transaction id {transaction_id})",
            f"stop of transaction {transaction_id} not recorded: it began while the charger was "
            "not in the fleet",
        ]


async def test_a_201_transaction_of_an_unknown_station_is_answered_and_never_recovered(
    tmp_path: Path,
) -> None:
    async with serve(tmp_path) as served:
        cp = await served.unknown("CP-STRANGER", "ocpp2.0.1")
        for event in (
            event_201("Started", 0, NOW, 1000),
            event_201("Updated", 1, LATER, 7000),
            event_201("Ended", 2, END, 13300, stoppedReason="EVDisconnected"),
        ):
            reply = await cp.call("TransactionEvent", event)
            assert reply[0] == 3 and reply[2]["idTokenInfo"]["status"] == "Invalid", reply

        assert await served.running.central.store.transactions() == []
        assert await served.events("CP-STRANGER", "TransactionRecovered") == []
        assert await served.events("CP-STRANGER", "TransactionRefused") == [
            f"transaction TX-STRANGER on connector 1 with id tag {CARD} not recorded: the "
            "charger is not in the fleet",
            "stop of transaction TX-STRANGER not recorded: the charger is not in the fleet",
        ]
