"""A lean OCPP 1.6-J charger for load: just enough of a charger to be converged, cheaply.

The demo's simulator (`controller.simulator`) plays chargers faithfully on the `ocpp`
library's charge-point side, which costs ~7 ms of CPU per charger over a convergence (the
library converts every payload to and from dataclasses). On a 2-core machine that share the
server, 10,000 of them take as much CPU as the server itself, so a benchmark of the server
would mostly measure its load generator. This one speaks the same wire protocol with raw
websockets and orjson, and nothing else:

- connects as `ws://.../CP-xxxxx` with subprotocol ocpp1.6, sends BootNotification and one
  StatusNotification per connector (0 and 1), as the full simulator does;
- answers GetConfiguration from its table, ChangeConfiguration (Accepted, or RebootRequired
  for the keys in `reboot_keys`, which take effect at the next boot), Reset (closes, waits
  `reboot_seconds`, reconnects and boots again), GetLocalListVersion (0), SendLocalList
  (Accepted) and ChangeAvailability (Accepted); anything else gets CALLERROR NotImplemented.

It is a load generator, not a conformance peer: it checks nothing it is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

_ids = itertools.count()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class LeanCharger:
    """One charger: its identity, its configuration table and the keys that need a reboot."""

    identity: str
    url: str
    configuration: dict[str, str]
    reboot_keys: frozenset[str] = frozenset()
    reboot_seconds: float = 1.0
    pending: dict[str, str] = field(default_factory=dict)
    """Values accepted with RebootRequired, in force after the next boot."""
    _waiting: dict[str, asyncio.Future[Any]] = field(default_factory=dict)

    async def run(self) -> None:
        """Connect, boot, serve; after a Reset, reboot and do it again. Until cancelled."""
        while True:
            reset = await self._session()
            if not reset:
                await asyncio.sleep(1.0)
                continue
            self.configuration.update(self.pending)
            self.pending.clear()
            await asyncio.sleep(self.reboot_seconds)

    async def _session(self) -> bool:
        """One connection; True when it ended because the central system reset us."""
        try:
            async with connect(
                f"{self.url}/{self.identity}",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                compression=None,
                open_timeout=120,
                ping_interval=None,
            ) as ws:
                reader = asyncio.create_task(self._read(ws))
                try:
                    await self._call(
                        ws,
                        "BootNotification",
                        {"chargePointVendor": "Bench", "chargePointModel": "Lean"},
                    )
                    for connector in (0, 1):
                        await self._call(
                            ws,
                            "StatusNotification",
                            {
                                "connectorId": connector,
                                "errorCode": "NoError",
                                "status": "Available",
                                "timestamp": _now(),
                            },
                        )
                    return bool(await reader)
                finally:
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                        await reader
        except (OSError, ConnectionClosed, TimeoutError):
            return False

    async def _call(self, ws: ClientConnection, action: str, payload: Mapping[str, Any]) -> Any:
        message_id = str(next(_ids))
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[message_id] = answer
        await ws.send(orjson.dumps([2, message_id, action, payload]).decode())
        return await asyncio.wait_for(answer, 60)

    async def _read(self, ws: ClientConnection) -> bool:
        """Answer the central system's calls; True when a Reset was accepted."""
        async for frame in ws:
            message = orjson.loads(frame)
            if message[0] == 3:
                waiting = self._waiting.pop(message[1], None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(message[2])
                continue
            if message[0] != 2:
                continue
            _, message_id, action, payload = message
            answer = self._answer(action, payload)
            if answer is None:
                reply = [4, message_id, "NotImplemented", f"{action} is not simulated", {}]
            else:
                reply = [3, message_id, answer]
            await ws.send(orjson.dumps(reply).decode())
            if action == "Reset":
                await ws.close()
                return True
        return False

    def _answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        if action == "GetConfiguration":
            asked = payload.get("key") or list(self.configuration)
            known = [k for k in asked if k in self.configuration]
            return {
                "configurationKey": [
                    {"key": k, "readonly": False, "value": self.configuration[k]} for k in known
                ],
                "unknownKey": [k for k in asked if k not in self.configuration],
            }
        if action == "ChangeConfiguration":
            key, value = payload["key"], payload["value"]
            if key not in self.configuration:
                return {"status": "NotSupported"}
            if key in self.reboot_keys:
                self.pending[key] = value
                return {"status": "RebootRequired"}
            self.configuration[key] = value
            return {"status": "Accepted"}
        if action == "Reset":
            return {"status": "Accepted"}
        if action == "GetLocalListVersion":
            return {"listVersion": 0}
        if action in ("SendLocalList", "ChangeAvailability", "ClearCache"):
            return {"status": "Accepted"}
        return None


async def run_lean(chargers: list[LeanCharger], stagger: float) -> None:
    """Start every charger, spread over `stagger` seconds, and run them until cancelled."""
    tasks = []
    try:
        for i, charger in enumerate(chargers):
            tasks.append(asyncio.create_task(charger.run()))
            if stagger and i % 50 == 49:
                await asyncio.sleep(stagger * 50 / len(chargers))
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
