"""Write-only values never reach the message log (`ocpp.redaction`, each version's `redact`)."""

from __future__ import annotations

from typing import Any

from controller.ocpp.redaction import MASK
from controller.ocpp.rpc import RpcVersion
from controller.ocpp.session import Session
from controller.ocpp.v16.conversions import redact as redact16
from controller.ocpp.v201.conversions import redact as redact201
from tests.fakes import MemoryTransport, MessageLog

SECRET = "the-password-1234567"
PASSWORD_201 = {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}


def test_1_6_masks_the_authorization_key_only() -> None:
    masked = redact16("ChangeConfiguration", {"key": "AuthorizationKey", "value": SECRET}, False)
    assert masked == {"key": "AuthorizationKey", "value": MASK}
    assert redact16("ChangeConfiguration", {"key": "authorizationkey", "value": SECRET}, False)
    assert (
        redact16("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}, False) is None
    )
    answer = {
        "configurationKey": [
            {"key": "AuthorizationKey", "readonly": False, "value": SECRET},
            {"key": "HeartbeatInterval", "readonly": False, "value": "60"},
        ]
    }
    shown = redact16("GetConfiguration", answer, True)
    assert shown is not None and SECRET not in repr(shown) and "60" in repr(shown)


def test_2_0_1_masks_basic_auth_password_in_set_get_and_reports() -> None:
    request = {"setVariableData": [{**PASSWORD_201, "attributeValue": SECRET},
                                   {"component": {"name": "OCPPCommCtrlr"},
                                    "variable": {"name": "HeartbeatInterval"},
                                    "attributeValue": "60"}]}  # fmt: skip
    shown = redact201("SetVariables", request, False)
    assert shown is not None and SECRET not in repr(shown) and "60" in repr(shown)
    answer = {"getVariableResult": [{**PASSWORD_201, "attributeStatus": "Accepted",
                                     "attributeValue": SECRET}]}  # fmt: skip
    assert SECRET not in repr(redact201("GetVariables", answer, True))
    report = {
        "requestId": 1,
        "seqNo": 0,
        "generatedAt": "2026-03-01T00:00:00Z",
        "reportData": [{**PASSWORD_201, "variableAttribute": [{"value": SECRET}]}],
    }
    assert SECRET not in repr(redact201("NotifyReport", report, False))
    assert redact201("SetVariables", {"setVariableData": []}, False) is None


async def test_the_session_sends_the_password_and_logs_it_masked() -> None:
    pipe, frames = MemoryTransport(), MessageLog()
    session = Session("CP-1", RpcVersion.V16, pipe, frames, call_timeout=0.01, redact=redact16)
    payload: dict[str, Any] = {"key": "AuthorizationKey", "value": SECRET}
    await session.call("ChangeConfiguration", payload)  # times out: nobody answers
    assert SECRET in pipe.sent[0], "the charger gets the real value"
    assert frames.entries and all(SECRET not in e.frame for e in frames.entries)
    assert MASK in frames.entries[0].frame
