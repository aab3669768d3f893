"""A simulated OCPP 2.0.1 charging station: the 2.0.1 messages for `SimulatedCharger`.

Each declared connector is one EVSE with one connector (EVSE id = connector id, connector id
1), as the Charger model says. Configuration keys are the flat `Component.Variable[instance]`
names fleet files use; GetVariables / SetVariables / GetBaseReport translate to and from the
component and variable objects on the wire. Transactions get their own UUID and are reported
with TransactionEvent (Started, Updated with meter values and charging state, Ended).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

from controller.resources.catalogue import Mutability, ValueType, parse_variable_key, variable_key
from controller.simulator._ocpp import ChargePoint201, call201, on, result201
from controller.simulator.charger import SimulatedCharger, VersionKeys
from controller.simulator.clock import parse_timestamp, timestamp
from controller.simulator.config_table import ChangeOutcome, KeyRule
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
    "ChargingStationMaxProfile": Purpose.STATION_MAX,
    "TxDefaultProfile": Purpose.TX_DEFAULT,
    "TxProfile": Purpose.TX,
    "ChargingStationExternalConstraints": Purpose.EXTERNAL,
}

CONNECTOR_STATUS = {
    State.AVAILABLE: "Available",
    State.UNAVAILABLE: "Unavailable",
}
"""Connector statuses; every other state is Occupied."""

CHARGING_STATE = {
    State.CHARGING: "Charging",
    State.SUSPENDED_EV: "SuspendedEV",
    State.SUSPENDED_EVSE: "SuspendedEVSE",
    State.PREPARING: "EVConnected",
    State.FINISHING: "EVConnected",
}

STOP_REASONS = {"SoftReset": "ImmediateReset", "HardReset": "ImmediateReset"}
"""Neutral stop reasons 2.0.1 spells differently (ReasonEnumType)."""

STOP_TRIGGERS = {
    "EVDisconnected": "EVCommunicationLost",
    "Local": "StopAuthorized",
    "Remote": "RemoteStop",
    "DeAuthorized": "Deauthorized",
    "ImmediateReset": "ResetCommand",
    "SoftReset": "ResetCommand",
    "HardReset": "ResetCommand",
    "Reboot": "ResetCommand",
    "UnlockCommand": "UnlockCommand",
}
"""The TransactionEvent triggerReason that goes with each stop reason."""

DATA_TYPES = {
    ValueType.BOOLEAN: "boolean",
    ValueType.INTEGER: "integer",
    ValueType.STRING: "string",
}

REPORT_BASES = ("ConfigurationInventory", "FullInventory", "SummaryInventory")


def charging_profile(evse_id: int, data: dict[str, Any]) -> ChargingProfile:
    """A 2.0.1 ChargingProfileType (as the library hands it over) in neutral form; the first
    schedule is the one a station without ISO 15118 uses."""
    schedule = data["charging_schedule"][0]
    start = schedule.get("start_schedule")
    valid_from, valid_to = data.get("valid_from"), data.get("valid_to")
    return ChargingProfile(
        id=int(data["id"]),
        connector=evse_id,
        stack_level=int(data["stack_level"]),
        purpose=PURPOSES[data["charging_profile_purpose"]],
        kind=Kind(data["charging_profile_kind"]),
        recurrency=data.get("recurrency_kind"),
        valid_from=parse_timestamp(valid_from) if valid_from else None,
        valid_to=parse_timestamp(valid_to) if valid_to else None,
        transaction_id=data.get("transaction_id"),
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


class Charger201(SimulatedCharger):
    """A charging station speaking OCPP 2.0.1."""

    ocpp_version = "2.0.1"
    subprotocol = "ocpp2.0.1"
    KEYS = VersionKeys(
        heartbeat="OCPPCommCtrlr.HeartbeatInterval",
        ping="OCPPCommCtrlr.WebSocketPingInterval",
        sample_interval="SampledDataCtrlr.TxUpdatedInterval",
        sampled="SampledDataCtrlr.TxUpdatedMeasurands",
        ended="SampledDataCtrlr.TxEndedMeasurands",
        local_pre_authorize="AuthCtrlr.LocalPreAuthorize",
        local_authorize_offline="AuthCtrlr.LocalAuthorizeOffline",
        local_list_enabled="LocalAuthListCtrlr.Enabled",
        cache_enabled="AuthCacheCtrlr.Enabled",
        offline_unknown="AuthCtrlr.OfflineTxForUnknownIdEnabled",
        stop_on_invalid="TxCtrlr.StopTxOnInvalidId",
        authorize_remote="AuthCtrlr.AuthorizeRemoteStart",
        password="SecurityCtrlr.BasicAuthPassword",
        auth_enabled="AuthCtrlr.Enabled",
    )

    def _make_charge_point(self, link: Link) -> ChargePoint201:
        return _Handlers(self, link)

    def limits(self) -> Limits:
        return Limits(
            max_stack_level=self.table.integer("SmartChargingCtrlr.ProfileStackLevel", 8),
            max_periods=self.table.integer("SmartChargingCtrlr.PeriodsPerSchedule", 24),
            max_installed=16,
            units=frozenset(self.table.members("SmartChargingCtrlr.RateUnit")),
        )

    def live_value(self, rule: KeyRule) -> str | None:
        """Values that describe the moment rather than a setting."""
        key = rule.key
        if key == "ClockCtrlr.DateTime":
            return timestamp(self.clock.now())
        if key == "LocalAuthListCtrlr.Entries":
            return str(len(self.local_list.entries))
        if key == "SmartChargingCtrlr.Entries[ChargingProfiles]":
            return str(len(self.profiles))
        if key == "ChargingStation.AvailabilityState":
            if all(not c.operative for c in self.connectors.values()):
                return "Unavailable"
            return "Available" if self._idle() else "Occupied"
        if rule.write_only:
            return None
        return self.table.values.get(key, "")

    # --- outgoing ----------------------------------------------------------------------------

    async def _send_boot(self, reason: str) -> BootReply:
        ident = self.identification
        station: dict[str, Any] = {
            "model": ident.model[:20],
            "vendor_name": ident.vendor[:50],
            "firmware_version": ident.firmware_version,
        }
        if ident.serial_number:
            station["serial_number"] = ident.serial_number[:25]
        result = await self._call(
            call201.BootNotification(charging_station=station, reason=reason), before_boot=True
        )
        return BootReply(BootStatus(str(result.status)), int(result.interval))

    async def _send_heartbeat(self) -> None:
        await self._call(call201.Heartbeat())

    async def _status(self, c: Connector) -> None:
        await self._call(
            call201.StatusNotification(
                timestamp=timestamp(self.clock.now()),
                connector_status=CONNECTOR_STATUS.get(c.state, "Occupied"),
                evse_id=c.id,
                connector_id=1,
            )
        )

    async def _send_state(self, c: Connector, old: State) -> None:
        if CONNECTOR_STATUS.get(old, "Occupied") != CONNECTOR_STATUS.get(c.state, "Occupied"):
            await self._status(c)
        tx = c.transaction
        charging = CHARGING_STATE.get(c.state)
        if tx is not None and charging is not None and charging != tx.charging_state:
            tx.charging_state = charging
            await self._transaction_event(
                c, tx, "Updated", "ChargingStateChanged", {"charging_state": charging}
            )

    async def _announce(self) -> None:
        for c in self.connectors.values():
            self._advance(c)
            c.state = self._derive_state(c)
            await self._status(c)

    async def _after_boot(self) -> None:
        if self._firmware_installed_pending:
            self._firmware_installed_pending = False
            await self._firmware_step("Installed", self._firmware_request)

    async def _firmware_installed(self, request_id: int | None) -> None:
        await self._firmware_step("InstallRebooting", request_id)

    async def _send_authorize(self, id_tag: str) -> str:
        result = await self._call(call201.Authorize(id_token=_token(id_tag)))
        return str(result.id_token_info["status"])

    async def _transaction_event(
        self,
        c: Connector,
        tx: Transaction,
        event: str,
        trigger: str,
        info: dict[str, Any] | None = None,
        meter: list[dict[str, Any]] | None = None,
        id_token: str | None = None,
    ) -> Any:
        payload = call201.TransactionEvent(
            event_type=event,
            timestamp=timestamp(self.clock.now()),
            trigger_reason=trigger,
            seq_no=tx.seq_no,
            transaction_info={"transaction_id": tx.id, **(info or {})},
            evse={"id": c.id, "connector_id": 1} if event == "Started" else None,
            id_token=_token(id_token) if id_token else None,
            meter_value=meter or None,
        )
        tx.seq_no += 1
        if event == "Updated":
            return await self._call(payload)
        return await self._call_or_queue(payload)

    def _meter(self, c: Connector, key: str, context: str) -> list[dict[str, Any]]:
        values = sampled_values(self.reading(c), self.table.members(key), context, v16=False)
        if not values:
            return []
        return [{"timestamp": timestamp(self.clock.now()), "sampled_value": values}]

    async def _send_start(
        self, c: Connector, id_tag: str, remote_start_id: int | None
    ) -> tuple[Transaction, str]:
        now = self.clock.now()
        meter_start = int(c.energy_wh)
        tx = Transaction(
            id=str(uuid.uuid4()),
            id_tag=id_tag,
            started_at=now,
            meter_start=meter_start,
            soc_start=soc_start(self.identity, c.id, meter_start),
            remote_start_id=remote_start_id,
            charging_state="EVConnected",
        )
        info: dict[str, Any] = {"charging_state": "EVConnected"}
        if remote_start_id is not None:
            info["remote_start_id"] = remote_start_id
        result = await self._transaction_event(
            c,
            tx,
            "Started",
            "RemoteStart" if remote_start_id is not None else "Authorized",
            info,
            self._meter(c, "SampledDataCtrlr.TxStartedMeasurands", "Transaction.Begin"),
            id_tag,
        )
        status = "Accepted"
        if result is not None and result.id_token_info:
            status = str(result.id_token_info.get("status", "Accepted"))
        return tx, status

    async def _send_meter_values(self, c: Connector, context: str) -> None:
        tx = c.transaction
        meter = self._meter(c, self.KEYS.sampled, context)
        if not meter:
            return
        if tx is not None:
            trigger = "Trigger" if context == "Trigger" else "MeterValuePeriodic"
            await self._transaction_event(c, tx, "Updated", trigger, meter=meter)
        else:
            await self._call(call201.MeterValues(evse_id=c.id, meter_value=meter))

    async def _send_stop(self, c: Connector, tx: Transaction, reason: str) -> None:
        stopped = STOP_REASONS.get(reason, reason)
        if stopped == "UnlockCommand":
            stopped = "Other"
        await self._transaction_event(
            c,
            tx,
            "Ended",
            STOP_TRIGGERS.get(reason, "AbnormalCondition"),
            {
                "charging_state": "EVConnected"
                if c.plugged and reason != "EVDisconnected"
                else "Idle",
                "stopped_reason": stopped,
            },
            self._meter(c, self.KEYS.ended, "Transaction.End"),
            tx.id_tag if reason == "Local" else None,
        )

    async def _send_firmware_status(self, status: str, request_id: int | None) -> None:
        await self._call(call201.FirmwareStatusNotification(status=status, request_id=request_id))

    async def _send_upload_status(self, status: str, request_id: int | None) -> None:
        wire = "UploadFailure" if status == "UploadFailed" else status
        await self._call(call201.LogStatusNotification(status=wire, request_id=request_id))

    async def _send_report(self, request_id: int, base: str) -> None:
        items = [self._report_item(rule) for rule in self._report_rules(base)]
        size = max(1, self.table.integer("DeviceDataCtrlr.ItemsPerMessage[GetReport]", 25))
        chunks = [items[i : i + size] for i in range(0, len(items), size)] or [[]]
        for seq_no, chunk in enumerate(chunks):
            await self._call(
                call201.NotifyReport(
                    request_id=request_id,
                    generated_at=timestamp(self.clock.now()),
                    seq_no=seq_no,
                    report_data=chunk or None,
                    tbc=seq_no < len(chunks) - 1,
                )
            )

    def _report_rules(self, base: str) -> list[KeyRule]:
        rules = list(self.table.model.rules)
        if base == "ConfigurationInventory":
            return [r for r in rules if not r.read_only]
        if base == "SummaryInventory":
            return [r for r in rules if r.key.startswith("ChargingStation.")]
        return rules

    def _report_item(self, rule: KeyRule) -> dict[str, Any]:
        component, component_instance, variable, variable_instance = parse_variable_key(rule.key)
        spec = rule.spec
        mutability = (
            Mutability.READ_ONLY.value
            if rule.read_only
            else (spec.mutability.value if spec is not None else Mutability.READ_WRITE.value)
        )
        attribute: dict[str, Any] = {
            "type": "Actual",
            "mutability": mutability,
            "persistent": True,
            "constant": False,
        }
        value = self.live_value(rule)
        if value is not None:
            attribute["value"] = value[:2500]
        characteristics: dict[str, Any] = {"data_type": "string", "supports_monitoring": False}
        if spec is not None:
            if spec.type is ValueType.LIST:
                characteristics["data_type"] = "SequenceList" if spec.ordered else "MemberList"
            elif spec.type is ValueType.STRING and spec.choices is not None:
                characteristics["data_type"] = "OptionList"
            elif rule.key == "ClockCtrlr.DateTime":
                characteristics["data_type"] = "dateTime"
            else:
                characteristics["data_type"] = DATA_TYPES[spec.type]
            if spec.unit:
                characteristics["unit"] = spec.unit[:16]
            if spec.type is ValueType.INTEGER:
                if spec.minimum is not None:
                    characteristics["min_limit"] = spec.minimum
                if spec.maximum is not None:
                    characteristics["max_limit"] = spec.maximum
            if spec.choices is not None:
                characteristics["values_list"] = ",".join(sorted(spec.choices))[:1000]
        item: dict[str, Any] = {
            "component": _named(component, component_instance),
            "variable": _named(variable, variable_instance),
            "variable_attribute": [attribute],
            "variable_characteristics": characteristics,
        }
        return item

    async def _trigger_status(self, evse_id: int | None) -> None:
        for c in self.connectors.values():
            if evse_id in (None, c.id):
                await self._status(c)

    # --- answers to the central system -------------------------------------------------------

    def _unknown(self, component: dict[str, Any]) -> str:
        known = str(component["name"]).lower() in self.table.model.components()
        return "UnknownVariable" if known else "UnknownComponent"

    def get_variables(self, requests: list[dict[str, Any]]) -> Any:
        results: list[dict[str, Any]] = []
        for item in requests:
            component, variable = item["component"], item["variable"]
            attribute = item.get("attribute_type", "Actual")
            rule = self.table.rule(variable_key(component, variable))
            result: dict[str, Any] = {
                "attribute_type": attribute,
                "component": component,
                "variable": variable,
            }
            if rule is None:
                result["attribute_status"] = self._unknown(component)
            elif attribute != "Actual":
                result["attribute_status"] = "NotSupportedAttributeType"
            elif rule.write_only:
                result["attribute_status"] = "Rejected"
            else:
                result["attribute_status"] = "Accepted"
                result["attribute_value"] = (self.live_value(rule) or "")[:2500]
            results.append(result)
        return result201.GetVariables(get_variable_result=results)

    def set_variables(self, requests: list[dict[str, Any]]) -> Any:
        results: list[dict[str, Any]] = []
        changed = False
        for item in requests:
            component, variable = item["component"], item["variable"]
            attribute = item.get("attribute_type", "Actual")
            result: dict[str, Any] = {
                "attribute_type": attribute,
                "component": component,
                "variable": variable,
            }
            key = variable_key(component, variable)
            if self.table.rule(key) is None:
                result["attribute_status"] = self._unknown(component)
            elif attribute != "Actual":
                result["attribute_status"] = "NotSupportedAttributeType"
            else:
                outcome = self.table.change(key, str(item["attribute_value"]))
                changed |= outcome is ChangeOutcome.ACCEPTED
                result["attribute_status"] = (
                    "UnknownVariable" if outcome is ChangeOutcome.NOT_SUPPORTED else outcome.value
                )
            results.append(result)
        if changed:
            self._wake.set()
        return result201.SetVariables(set_variable_result=results)

    def base_report(self, request_id: int, base: str) -> Any:
        if base not in REPORT_BASES:
            return result201.GetBaseReport(status="NotSupported")
        self.after_reply(lambda: self._send_report(request_id, base))
        return result201.GetBaseReport(status="Accepted")

    def reset(self, kind: str, evse_id: int | None) -> Any:
        if evse_id is not None:
            return result201.Reset(status="Rejected")
        immediate = kind == "Immediate"
        return result201.Reset(
            status=self.request_reset(immediate=immediate, stop_reason="ImmediateReset")
        )

    def availability(self, status: str, evse: dict[str, Any] | None) -> Any:
        evse_id = 0 if evse is None else int(evse["id"])
        if evse_id != 0 and evse_id not in self.connectors:
            return result201.ChangeAvailability(status="Rejected")
        ids = list(self.connectors) if evse_id == 0 else [evse_id]
        return result201.ChangeAvailability(
            status=self.change_availability(ids, status == "Operative")
        )

    def unlock(self, evse_id: int, connector_id: int) -> Any:
        c = self.connectors.get(evse_id)
        if c is None or connector_id != 1:
            return result201.UnlockConnector(status="UnknownConnector")
        if c.transaction is not None:
            return result201.UnlockConnector(status="OngoingAuthorizedTransaction")

        async def release() -> None:
            c.plugged, c.finished = False, False
            await self._update_state(c)

        self.after_reply(release)
        return result201.UnlockConnector(status="Unlocked")

    def trigger(self, requested: str, evse: dict[str, Any] | None) -> Any:
        evse_id = None if evse is None else int(evse["id"])
        if evse_id is not None and evse_id not in self.connectors:
            return result201.TriggerMessage(status="Rejected")
        chosen = [c for c in self.connectors.values() if evse_id in (None, c.id)]
        if requested == "BootNotification":
            if self._accepted:
                return result201.TriggerMessage(status="Rejected")
            self.after_reply(lambda: self._trigger_boot("Triggered"))
        elif requested == "Heartbeat":
            self.after_reply(self._send_heartbeat)
        elif requested == "StatusNotification":
            self.after_reply(lambda: self._trigger_status(evse_id))
        elif requested in ("MeterValues", "TransactionEvent"):
            if requested == "TransactionEvent":
                chosen = [c for c in chosen if c.transaction is not None]

            async def meter() -> None:
                for c in chosen:
                    await self._send_meter_values(c, "Trigger")

            self.after_reply(meter)
        elif requested == "FirmwareStatusNotification":
            self.after_reply(
                lambda: self._send_firmware_status(self.firmware_status, self._firmware_request)
            )
        elif requested == "LogStatusNotification":
            self.after_reply(lambda: self._send_upload_status(self.upload_status, None))
        else:
            return result201.TriggerMessage(status="NotImplemented")
        return result201.TriggerMessage(status="Accepted")

    def request_start(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None,
        profile: dict[str, Any] | None,
    ) -> Any:
        c = self.free_connector() if evse_id is None else self.connectors.get(evse_id)
        if c is None or c.transaction is not None or c.plugged or not c.operative:
            return result201.RequestStartTransaction(status="Rejected")
        install = None
        if profile is not None:
            if profile.get("charging_profile_purpose") != "TxProfile":
                return result201.RequestStartTransaction(status="Rejected")
            wanted = charging_profile(c.id, profile)

            def install_profile(tx: Transaction) -> None:
                self.profiles.install(replace(wanted, transaction_id=tx.id), self.limits())

            install = install_profile
        tag = str(id_token["id_token"])
        self.after_reply(lambda: self.remote_start(c, tag, remote_start_id, install))
        return result201.RequestStartTransaction(status="Accepted")

    def request_stop(self, transaction_id: str) -> Any:
        c = self.transaction_by_id(transaction_id)
        if c is None:
            return result201.RequestStopTransaction(status="Rejected")
        self.after_reply(lambda: self._end_transaction(c, "Remote"))
        return result201.RequestStopTransaction(status="Accepted")

    def set_charging_profile(self, evse_id: int, data: dict[str, Any]) -> Any:
        if evse_id != 0 and evse_id not in self.connectors:
            return result201.SetChargingProfile(status="Rejected")
        try:
            profile = charging_profile(evse_id, data)
        except (KeyError, ValueError, IndexError):
            return result201.SetChargingProfile(status="Rejected")
        if profile.purpose is Purpose.EXTERNAL:
            return result201.SetChargingProfile(status="Rejected")
        if profile.purpose is Purpose.TX:
            tx = self.connectors[evse_id].transaction if evse_id else None
            if tx is None or profile.transaction_id not in (None, tx.id):
                return result201.SetChargingProfile(status="Rejected")
        if self.profile.accepts_profiles_without_applying:
            return result201.SetChargingProfile(status="Accepted")
        for c in self.connectors.values():
            self._advance(c)
        accepted = self.profiles.install(profile, self.limits())
        if accepted:
            self.after_reply(self._refresh_all)
        return result201.SetChargingProfile(status="Accepted" if accepted else "Rejected")

    def clear_charging_profile(
        self, profile_id: int | None, criteria: dict[str, Any] | None
    ) -> Any:
        criteria = criteria or {}
        purpose = criteria.get("charging_profile_purpose")
        for c in self.connectors.values():
            self._advance(c)
        cleared = self.profiles.clear(
            profile_id=profile_id,
            connector=criteria.get("evse_id"),
            purpose=PURPOSES[purpose] if purpose else None,
            stack_level=criteria.get("stack_level"),
        )
        if cleared:
            self.after_reply(self._refresh_all)
        return result201.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    def composite_schedule(self, duration: int, evse_id: int, unit: str | None) -> Any:
        if self.profile.rejects_composite_schedule or (
            evse_id != 0 and evse_id not in self.connectors
        ):
            return result201.GetCompositeSchedule(status="Rejected")
        now = self.clock.now()
        if evse_id == 0:
            phases = max(c.phases for c in self.connectors.values())
            maximum = float(max(c.max_current for c in self.connectors.values()))
            session = None
        else:
            c = self.connectors[evse_id]
            phases, maximum = c.phases, float(c.max_current)
            tx = c.transaction
            session = Session(tx.id, tx.started_at) if tx is not None else None
        periods = self.profiles.composite(
            evse_id, now, duration, session, phases, self.profile.voltage, maximum
        )
        watts = unit == "W"
        factor = self.profile.voltage * phases if watts else 1.0
        return result201.GetCompositeSchedule(
            status="Accepted",
            schedule={
                "evse_id": evse_id,
                "duration": duration,
                "schedule_start": timestamp(now),
                "charging_rate_unit": "W" if watts else "A",
                "charging_schedule_period": [
                    {"start_period": offset, "limit": round(limit * factor, 1)}
                    for offset, limit in periods
                ],
            },
        )

    def send_local_list(
        self, version: int, update_type: str, entries: list[dict[str, Any]] | None
    ) -> Any:
        items = [
            (
                str(e["id_token"]["id_token"]),
                (e.get("id_token_info") or {}).get("status"),
            )
            for e in entries or []
        ]
        status = self.local_list.update(
            version,
            update_type == "Full",
            items,
            self.table.integer("LocalAuthListCtrlr.ItemsPerMessage", 250),
        )
        return result201.SendLocalList(status=status)

    def firmware(self, request_id: int, firmware: dict[str, Any]) -> Any:
        retrieve = parse_timestamp(str(firmware["retrieve_date_time"]))
        delay = (retrieve - self.clock.now()) / timedelta(seconds=1)
        self.update_firmware(
            str(firmware["location"]), self.clock.seconds() + max(0.0, delay), request_id
        )
        return result201.UpdateFirmware(status="Accepted")

    def get_log(self, request_id: int, log_type: str) -> Any:
        self.upload(request_id)
        name = f"{log_type}-{self.identity}-{self.clock.now():%Y%m%dT%H%M%S}.zip"
        return result201.GetLog(status="Accepted", filename=name)

    def data_transfer(self, vendor_id: str) -> Any:
        known = vendor_id in self.profile.known_vendors
        return result201.DataTransfer(status="Accepted" if known else "UnknownVendorId")


def _token(id_tag: str) -> dict[str, str]:
    return {"id_token": id_tag, "type": "ISO14443"}


def _named(name: str, instance: str | None) -> dict[str, str]:
    return {"name": name} if instance is None else {"name": name, "instance": instance}


class _Handlers(ChargePoint201):
    """The library's charge point, routing the central system's calls to the station."""

    def __init__(self, sim: Charger201, link: Link) -> None:
        super().__init__(sim.identity, link, response_timeout=sim.profile.response_timeout)
        self.sim = sim

    @on("GetVariables")
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        return self.sim.get_variables(get_variable_data)

    @on("SetVariables")
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        return self.sim.set_variables(set_variable_data)

    @on("GetBaseReport")
    def on_get_base_report(self, request_id: int, report_base: str, **_: Any) -> Any:
        return self.sim.base_report(request_id, report_base)

    @on("Reset")
    def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> Any:
        return self.sim.reset(type, evse_id)

    @on("ChangeAvailability")
    def on_change_availability(
        self, operational_status: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        return self.sim.availability(operational_status, evse)

    @on("UnlockConnector")
    def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        return self.sim.unlock(evse_id, connector_id)

    @on("TriggerMessage")
    def on_trigger_message(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        return self.sim.trigger(requested_message, evse)

    @on("RequestStartTransaction")
    def on_request_start_transaction(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        return self.sim.request_start(id_token, remote_start_id, evse_id, charging_profile)

    @on("RequestStopTransaction")
    def on_request_stop_transaction(self, transaction_id: str, **_: Any) -> Any:
        return self.sim.request_stop(transaction_id)

    @on("SetChargingProfile")
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> Any:
        return self.sim.set_charging_profile(evse_id, charging_profile)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        return self.sim.clear_charging_profile(charging_profile_id, charging_profile_criteria)

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(
        self, duration: int, evse_id: int, charging_rate_unit: str | None = None, **_: Any
    ) -> Any:
        return self.sim.composite_schedule(duration, evse_id, charging_rate_unit)

    @on("SendLocalList")
    def on_send_local_list(
        self,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        return self.sim.send_local_list(version_number, update_type, local_authorization_list)

    @on("GetLocalListVersion")
    def on_get_local_list_version(self, **_: Any) -> Any:
        return result201.GetLocalListVersion(version_number=self.sim.local_list.version)

    @on("ClearCache")
    def on_clear_cache(self, **_: Any) -> Any:
        self.sim.auth_cache.clear()
        return result201.ClearCache(status="Accepted")

    @on("UpdateFirmware")
    def on_update_firmware(self, request_id: int, firmware: dict[str, Any], **_: Any) -> Any:
        return self.sim.firmware(request_id, firmware)

    @on("GetLog")
    def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int, **_: Any) -> Any:
        return self.sim.get_log(request_id, log_type)

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return self.sim.data_transfer(vendor_id)
