"""Bad frames, meter readings, the local list and small helpers of the simulator."""

from __future__ import annotations

import json

import pytest

from controller.simulator import BadFrame, bad_frame, firmware_version_from_url
from controller.simulator.metering import Reading, sampled_values
from controller.simulator.state import LocalList


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_bad_frames(version: str) -> None:
    with pytest.raises(ValueError):
        json.loads(bad_frame(BadFrame.MALFORMED_JSON, version))
    assert json.loads(bad_frame(BadFrame.WRONG_MESSAGE_TYPE, version))[0] == 7
    assert json.loads(bad_frame(BadFrame.UNKNOWN_ACTION, version))[2] == "FlyToTheMoon"
    violation = json.loads(bad_frame(BadFrame.SCHEMA_VIOLATION, version))
    assert violation[2] == "StatusNotification"
    oversized = bad_frame(BadFrame.OVERSIZED, version, oversized_bytes=100_000)
    assert len(oversized) == 100_000 and json.loads(oversized)[2] == "DataTransfer"
    result = json.loads(bad_frame(BadFrame.UNKNOWN_CALLRESULT, version))
    assert result[0] == 3 and result[2] == {}
    assert json.loads(bad_frame(BadFrame.UNKNOWN_ACTION, version, message_id="m1"))[1] == "m1"


def test_firmware_version_from_url() -> None:
    url = "https://firmware.voltway.nl/alfen/eve-single-pro/6.4.0-4205.img"
    assert firmware_version_from_url(url) == "6.4.0-4205"
    assert firmware_version_from_url("ftp://x/fw/2.1.0.tar.gz?sig=1") == "2.1.0"


def test_sampled_values_per_version() -> None:
    reading = Reading(energy_wh=1234, current=10.0, offered=16, phases=3, voltage=230.0, soc=55)
    measurands = [
        "Energy.Active.Import.Register",
        "Current.Import",
        "Current.Offered",
        "Power.Active.Import",
        "SoC",
        "Voltage.L1",
        "Frequency",
    ]
    v16 = sampled_values(reading, measurands, "Sample.Periodic", v16=True)
    assert [v["value"] for v in v16] == ["1234", "10", "10", "10", "16", "6900", "55", "230"]
    assert [v.get("phase") for v in v16][1:4] == ["L1", "L2", "L3"]
    v201 = sampled_values(reading, measurands, "Trigger", v16=False)
    assert v201[0] == {
        "context": "Trigger",
        "measurand": "Energy.Active.Import.Register",
        "value": 1234,
        "unit_of_measure": {"unit": "Wh"},
    }


def test_local_list_updates() -> None:
    local = LocalList()
    assert local.update(1, True, [("AAA", "Accepted"), ("bbb", "Blocked")], 10) == "Accepted"
    assert local.status("aaa") == "Accepted" and local.status("BBB") == "Blocked"
    assert local.update(1, False, [("CCC", "Accepted")], 10) == "VersionMismatch"
    assert local.update(2, False, [("AAA", None), ("CCC", "Accepted")], 10) == "Accepted"
    assert local.status("AAA") is None and local.status("ccc") == "Accepted"
    assert local.update(3, True, [("X", "Accepted")] * 3, 2) == "Failed"
    assert local.version == 2


def test_public_names_resolve() -> None:
    import controller.simulator as simulator

    assert sorted(simulator.__all__) == sorted(simulator._HOMES)
    for name in simulator.__all__:
        assert getattr(simulator, name) is not None
    with pytest.raises(AttributeError):
        _ = simulator.Nope  # type: ignore[attr-defined]
