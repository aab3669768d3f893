"""A simulated OCPP 1.6J charger: the 1.6 messages for what `SimulatedCharger` does.

Handlers answer the central system through the `ocpp` library (`@on`), and only decide the
answer; anything that happens after the answer (a reboot, a transaction stopping, a triggered
message) is scheduled with `after_reply`, so the reply always goes out first, as on a real
charger.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from controller.simulator._ocpp import ChargePoint16, call16, on, result16
from controller.simulator.charger import SimulatedCharger, VersionKeys
from controller.simulator.clock import parse_timestamp, timestamp
from controller.simulator.config_table import ChangeOutcome
from controller.simulator.link import Link
from controller.simulator.metering import sampled_values
from controller.simulator.smart import (
    ChargingProfile,
    Kind,
    Limits,
    Period,
    Purpose,
    Schedule,
    Session,
)
from controller.simulator.state import Connector, State, Transaction, soc_start
from controller.values.commands import BootReply, BootStatus

PURPOSES = {
    "ChargePointMaxProfile": Purpose.STATION_MAX,
    "TxDefaultProfile": Purpose.TX_DEFAULT,
    "TxProfile": Purpose.TX,
}

STOP_REASONS = {"ImmediateReset": "HardReset"}
"""Neutral stop reasons 1.6 spells differently."""


def charging_profile(connector: int, data: dict[str, Any]) -> ChargingProfile:
    """A 1.6 csChargingProfiles (as the library hands it over) in neutral form."""
    schedule = data["charging_schedule"]
    start = schedule.get("start_schedule")
    valid_from, valid_to = data.get("valid_from"), data.get("valid_to")
    tx = data.get("transaction_id")
    return ChargingProfile(
        id=int(data["charging_profile_id"]),
        connector=connector,
        stack_level=int(data["stack_level"]),
        purpose=PURPOSES[data["charging_profile_purpose"]],
        kind=Kind(data["charging_profile_kind"]),
        recurrency=data.get("recurrency_kind"),
        valid_from=parse_timestamp(valid_from) if valid_from else None,
        valid_to=parse_timestamp(valid_to) if valid_to else None,
        transaction_id=None if tx is None else str(tx),
        schedule=Schedule(
            unit="A" if schedule["charging_rate_unit"] == "A" else "W",
            periods=tuple(
                Period(int(p["start_period"]), float(p["limit"]), p.get("number_phases"))
                for p in schedule["charging_schedule_period"]
            ),
            start=parse_timestamp(start) if start else None,
            duration=schedule.get("duration"),
        ),
    )


class Charger16(SimulatedCharger):
    """A charger speaking OCPP 1.6J."""

    ocpp_version = "1.6"
    subprotocol = "ocpp1.6"
    KEYS = VersionKeys(
        heartbeat="HeartbeatInterval",
        ping="WebSocketPingInterval",
        sample_interval="MeterValueSampleInterval",
        sampled="MeterValuesSampledData",
        ended="StopTxnSampledData",
        local_pre_authorize="LocalPreAuthorize",
        local_authorize_offline="LocalAuthorizeOffline",
        local_list_enabled="LocalAuthListEnabled",
        cache_enabled="AuthorizationCacheEnabled",
        offline_unknown="AllowOfflineTxForUnknownId",
        stop_on_invalid="StopTransactionOnInvalidId",
        authorize_remote="AuthorizeRemoteTxRequests",
        password="AuthorizationKey",
    )

    def _make_charge_point(self, link: Link) -> ChargePoint16:
        return _Handlers(self, link)

    def limits(self) -> Limits:
        units = {"Current": "A", "Power": "W"}
        return Limits(
            max_stack_level=self.table.integer("ChargeProfileMaxStackLevel", 8),
            max_periods=self.table.integer("ChargingScheduleMaxPeriods", 24),
            max_installed=self.table.integer("MaxChargingProfilesInstalled", 16),
            units=frozenset(
                units[u]
                for u in self.table.members("ChargingScheduleAllowedChargingRateUnit")
                if u in units
            ),
        )

    # --- outgoing ----------------------------------------------------------------------------

    async def _send_boot(self, reason: str) -> BootReply:
        ident = self.identification
        result = await self._call(
            call16.BootNotification(
                charge_point_vendor=ident.vendor[:20],
                charge_point_model=ident.model[:20],
                charge_point_serial_number=(ident.serial_number or "")[:25] or None,
                firmware_version=ident.firmware_version,
            ),
            before_boot=True,
        )
        return BootReply(BootStatus(str(result.status)), int(result.interval))

    async def _send_heartbeat(self) -> None:
        await self._call(call16.Heartbeat())

    async def _status(self, connector_id: int, status: str) -> None:
        await self._call(
            call16.StatusNotification(
                connector_id=connector_id,
                error_code="NoError",
                status=status,
                timestamp=timestamp(self.clock.now()),
            )
        )

    async def _send_state(self, c: Connector, old: State) -> None:
        await self._status(c.id, c.state.value)

    async def _announce(self) -> None:
        everyone_out = all(not c.operative for c in self.connectors.values())
        await self._status(0, "Unavailable" if everyone_out else "Available")
        for c in self.connectors.values():
            self._advance(c)
            c.state = self._derive_state(c)
            await self._status(c.id, c.state.value)

    async def _send_authorize(self, id_tag: str) -> str:
        result = await self._call(call16.Authorize(id_tag=id_tag))
        return str(result.id_tag_info["status"])

    async def _send_start(
        self, c: Connector, id_tag: str, remote_start_id: int | None
    ) -> tuple[Transaction, str]:
        now = self.clock.now()
        meter_start = int(c.energy_wh)
        result = await self._call(
            call16.StartTransaction(
                connector_id=c.id,
                id_tag=id_tag,
                meter_start=meter_start,
                timestamp=timestamp(now),
            )
        )
        tx = Transaction(
            id=str(result.transaction_id),
            id_tag=id_tag,
            started_at=now,
            meter_start=meter_start,
            soc_start=soc_start(self.identity, c.id, meter_start),
            remote_start_id=remote_start_id,
        )
        return tx, str(result.id_tag_info["status"])

    async def _send_meter_values(self, c: Connector, context: str) -> None:
        reading = self.reading(c)
        values = sampled_values(reading, self.table.members(self.KEYS.sampled), context, v16=True)
        if not values:
            return
        tx = c.transaction
        await self._call(
            call16.MeterValues(
                connector_id=c.id,
                transaction_id=int(tx.id) if tx is not None else None,
                meter_value=[{"timestamp": timestamp(self.clock.now()), "sampled_value": values}],
            )
        )

    async def _send_stop(self, c: Connector, tx: Transaction, reason: str) -> None:
        reading = self.reading(c)
        now = self.clock.now()
        ended = sampled_values(
            reading, self.table.members(self.KEYS.ended), "Transaction.End", v16=True
        )
        data: list[dict[str, Any]] | None = None
        if ended:
            begin = {
                "value": str(tx.meter_start),
                "context": "Transaction.Begin",
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
            }
            data = [
                {"timestamp": timestamp(tx.started_at), "sampled_value": [begin]},
                {"timestamp": timestamp(now), "sampled_value": ended},
            ]
        await self._call_or_queue(
            call16.StopTransaction(
                meter_stop=reading.energy_wh,
                timestamp=timestamp(now),
                transaction_id=int(tx.id),
                reason=STOP_REASONS.get(reason, reason),
                id_tag=tx.id_tag if reason == "Local" else None,
                transaction_data=data,
            )
        )

    async def _send_firmware_status(self, status: str, request_id: int | None) -> None:
        await self._call(call16.FirmwareStatusNotification(status=status))

    async def _send_upload_status(self, status: str, request_id: int | None) -> None:
        await self._call(call16.DiagnosticsStatusNotification(status=status))

    async def _trigger_status(self, connector_id: int | None) -> None:
        if connector_id in (None, 0):
            everyone_out = all(not c.operative for c in self.connectors.values())
            await self._status(0, "Unavailable" if everyone_out else "Available")
        for c in self.connectors.values():
            if connector_id in (None, 0, c.id):
                await self._status(c.id, c.state.value)

    # --- answers to the central system -------------------------------------------------------

    def get_configuration(self, keys: list[str] | None) -> Any:
        table = self.table
        found: list[dict[str, Any]] = []
        unknown: list[str] = []
        rules = table.model.rules
        if keys:
            rules = ()
            for key in keys:
                rule = table.rule(key)
                if rule is None:
                    unknown.append(key)
                else:
                    rules += (rule,)
        for rule in rules:
            entry: dict[str, Any] = {"key": rule.key, "readonly": rule.read_only}
            if not rule.write_only:
                entry["value"] = table.values.get(rule.key, "")
            found.append(entry)
        return result16.GetConfiguration(
            configuration_key=found or None, unknown_key=unknown or None
        )

    def change_configuration(self, key: str, value: str) -> Any:
        outcome = self.table.change(key, value)
        if outcome is ChangeOutcome.ACCEPTED:
            self._wake.set()
        return result16.ChangeConfiguration(status=outcome.value)

    def reset(self, kind: str) -> Any:
        stop = "SoftReset" if kind == "Soft" else "HardReset"
        return result16.Reset(status=self.request_reset(immediate=True, stop_reason=stop))

    def availability(self, connector_id: int, kind: str) -> Any:
        if connector_id != 0 and connector_id not in self.connectors:
            return result16.ChangeAvailability(status="Rejected")
        ids = list(self.connectors) if connector_id == 0 else [connector_id]
        status = self.change_availability(ids, kind == "Operative")
        return result16.ChangeAvailability(status=status)

    def unlock(self, connector_id: int) -> Any:
        c = self.connectors.get(connector_id)
        if c is None:
            return result16.UnlockConnector(status="NotSupported")

        async def release() -> None:
            if c.transaction is not None:
                await self._end_transaction(c, "UnlockCommand")
            c.plugged, c.finished = False, False
            await self._update_state(c)

        self.after_reply(release)
        return result16.UnlockConnector(status="Unlocked")

    def trigger(self, requested: str, connector_id: int | None) -> Any:
        if connector_id not in (None, 0) and connector_id not in self.connectors:
            return result16.TriggerMessage(status="Rejected")
        chosen = [c for c in self.connectors.values() if connector_id in (None, 0, c.id)]
        if requested == "BootNotification":
            self.after_reply(lambda: self._trigger_boot(self._boot_reason))
        elif requested == "Heartbeat":
            self.after_reply(self._send_heartbeat)
        elif requested == "StatusNotification":
            self.after_reply(lambda: self._trigger_status(connector_id))
        elif requested == "MeterValues":

            async def meter() -> None:
                for c in chosen:
                    await self._send_meter_values(c, "Trigger")

            self.after_reply(meter)
        elif requested == "FirmwareStatusNotification":
            self.after_reply(lambda: self._send_firmware_status(self.firmware_status, None))
        elif requested == "DiagnosticsStatusNotification":
            self.after_reply(lambda: self._send_upload_status(self.upload_status, None))
        else:
            return result16.TriggerMessage(status="NotImplemented")
        return result16.TriggerMessage(status="Accepted")

    def remote_start_transaction(
        self, id_tag: str, connector_id: int | None, profile: dict[str, Any] | None
    ) -> Any:
        c = self.free_connector() if connector_id is None else self.connectors.get(connector_id)
        if c is None or c.transaction is not None or c.plugged or not c.operative:
            return result16.RemoteStartTransaction(status="Rejected")
        install = None
        if profile is not None:
            if profile.get("charging_profile_purpose") != "TxProfile":
                return result16.RemoteStartTransaction(status="Rejected")
            wanted = charging_profile(c.id, profile)

            def install_profile(tx: Transaction) -> None:
                self.profiles.install(replace(wanted, transaction_id=tx.id), self.limits())

            install = install_profile
        self.after_reply(lambda: self.remote_start(c, id_tag, None, install))
        return result16.RemoteStartTransaction(status="Accepted")

    def remote_stop_transaction(self, transaction_id: int) -> Any:
        c = self.transaction_by_id(str(transaction_id))
        if c is None:
            return result16.RemoteStopTransaction(status="Rejected")
        self.after_reply(lambda: self._end_transaction(c, "Remote"))
        return result16.RemoteStopTransaction(status="Accepted")

    def set_charging_profile(self, connector_id: int, data: dict[str, Any]) -> Any:
        if connector_id != 0 and connector_id not in self.connectors:
            return result16.SetChargingProfile(status="Rejected")
        try:
            profile = charging_profile(connector_id, data)
        except (KeyError, ValueError):
            return result16.SetChargingProfile(status="Rejected")
        if profile.purpose is Purpose.TX:
            tx = self.connectors[connector_id].transaction if connector_id else None
            if tx is None or profile.transaction_id not in (None, tx.id):
                return result16.SetChargingProfile(status="Rejected")
        if self.profile.accepts_profiles_without_applying:
            return result16.SetChargingProfile(status="Accepted")
        for c in self.connectors.values():
            self._advance(c)
        accepted = self.profiles.install(profile, self.limits())
        if accepted:
            self.after_reply(self._refresh_all)
        return result16.SetChargingProfile(status="Accepted" if accepted else "Rejected")

    def clear_charging_profile(
        self,
        profile_id: int | None,
        connector_id: int | None,
        purpose: str | None,
        stack_level: int | None,
    ) -> Any:
        for c in self.connectors.values():
            self._advance(c)
        cleared = self.profiles.clear(
            profile_id=profile_id,
            connector=connector_id,
            purpose=PURPOSES[purpose] if purpose else None,
            stack_level=stack_level,
        )
        if cleared:
            self.after_reply(self._refresh_all)
        return result16.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    def composite_schedule(self, connector_id: int, duration: int, unit: str | None) -> Any:
        if self.profile.rejects_composite_schedule or (
            connector_id != 0 and connector_id not in self.connectors
        ):
            return result16.GetCompositeSchedule(status="Rejected")
        now = self.clock.now()
        if connector_id == 0:
            phases = max(c.phases for c in self.connectors.values())
            maximum = float(max(c.max_current for c in self.connectors.values()))
            session = None
        else:
            c = self.connectors[connector_id]
            phases, maximum = c.phases, float(c.max_current)
            tx = c.transaction
            session = Session(tx.id, tx.started_at) if tx is not None else None
        periods = self.profiles.composite(
            connector_id, now, duration, session, phases, self.profile.voltage, maximum
        )
        watts = unit == "W"
        factor = self.profile.voltage * phases if watts else 1.0
        schedule = {
            "duration": duration,
            "start_schedule": timestamp(now),
            "charging_rate_unit": "W" if watts else "A",
            "charging_schedule_period": [
                {"start_period": offset, "limit": round(limit * factor, 1)}
                for offset, limit in periods
            ],
        }
        return result16.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=timestamp(now),
            charging_schedule=schedule,
        )

    def send_local_list(
        self, version: int, update_type: str, entries: list[dict[str, Any]] | None
    ) -> Any:
        items = [
            (str(e["id_tag"]), (e.get("id_tag_info") or {}).get("status")) for e in entries or []
        ]
        status = self.local_list.update(
            version,
            update_type == "Full",
            items,
            self.table.integer("SendLocalListMaxLength", 250),
        )
        return result16.SendLocalList(status=status)

    def firmware(self, location: str, retrieve_date: str) -> Any:
        delay = (parse_timestamp(retrieve_date) - self.clock.now()) / timedelta(seconds=1)
        self.update_firmware(location, self.clock.seconds() + max(0.0, delay), None)
        return result16.UpdateFirmware()

    def diagnostics(self) -> Any:
        self.upload(None)
        name = f"diagnostics-{self.identity}-{self.clock.now():%Y%m%dT%H%M%S}.zip"
        return result16.GetDiagnostics(file_name=name)

    def data_transfer(self, vendor_id: str) -> Any:
        known = vendor_id in self.profile.known_vendors
        return result16.DataTransfer(status="Accepted" if known else "UnknownVendorId")


class _Handlers(ChargePoint16):
    """The library's charge point, routing the central system's calls to the charger."""

    def __init__(self, sim: Charger16, link: Link) -> None:
        super().__init__(sim.identity, link, response_timeout=sim.profile.response_timeout)
        self.sim = sim

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        return self.sim.get_configuration(key)

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        return self.sim.change_configuration(key, value)

    @on("Reset")
    def on_reset(self, type: str, **_: Any) -> Any:
        return self.sim.reset(type)

    @on("ChangeAvailability")
    def on_change_availability(self, connector_id: int, type: str, **_: Any) -> Any:
        return self.sim.availability(connector_id, type)

    @on("UnlockConnector")
    def on_unlock_connector(self, connector_id: int, **_: Any) -> Any:
        return self.sim.unlock(connector_id)

    @on("TriggerMessage")
    def on_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> Any:
        return self.sim.trigger(requested_message, connector_id)

    @on("RemoteStartTransaction")
    def on_remote_start_transaction(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        return self.sim.remote_start_transaction(id_tag, connector_id, charging_profile)

    @on("RemoteStopTransaction")
    def on_remote_stop_transaction(self, transaction_id: int, **_: Any) -> Any:
        return self.sim.remote_stop_transaction(transaction_id)

    @on("SetChargingProfile")
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> Any:
        return self.sim.set_charging_profile(connector_id, cs_charging_profiles)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
        **_: Any,
    ) -> Any:
        return self.sim.clear_charging_profile(
            id, connector_id, charging_profile_purpose, stack_level
        )

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None, **_: Any
    ) -> Any:
        return self.sim.composite_schedule(connector_id, duration, charging_rate_unit)

    @on("SendLocalList")
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        return self.sim.send_local_list(list_version, update_type, local_authorization_list)

    @on("GetLocalListVersion")
    def on_get_local_list_version(self, **_: Any) -> Any:
        return result16.GetLocalListVersion(list_version=self.sim.local_list.version)

    @on("ClearCache")
    def on_clear_cache(self, **_: Any) -> Any:
        self.sim.auth_cache.clear()
        return result16.ClearCache(status="Accepted")

    @on("UpdateFirmware")
    def on_update_firmware(self, location: str, retrieve_date: str, **_: Any) -> Any:
        return self.sim.firmware(location, retrieve_date)

    @on("GetDiagnostics")
    def on_get_diagnostics(self, location: str, **_: Any) -> Any:
        return self.sim.diagnostics()

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return self.sim.data_transfer(vendor_id)
