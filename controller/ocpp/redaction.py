"""What the OCPP message log and the debug log never show: the values of write-only keys.

A password travels to a charger in a frame (1.6 ChangeConfiguration of AuthorizationKey,
2.0.1 SetVariables of SecurityCtrlr.BasicAuthPassword), and a charger that does not follow
the specification may even report one back. The session logs every frame, so each version
gives it a `Redact` (its binding's `redact`) that returns the payload with such values masked;
the frame sent is the real one, the frame logged is the masked one. Which keys are secret is
the catalogue's word (`Mutability.WRITE_ONLY`), not a list of ours.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controller.resources.catalogue import Mutability
from controller.resources.settings import OcppVersion
from controller.resources.versions import CATALOGUES

MASK = "********"
"""What a masked value reads as in the logs."""

Redact = Callable[[str, dict[str, Any], bool], dict[str, Any] | None]
"""`redact(action, payload, response)`: the payload of a CALL (`response` False) or of the
CALLRESULT answering `action` (True) with secret values masked; None when it holds none."""


def no_secrets(action: str, payload: dict[str, Any], response: bool) -> dict[str, Any] | None:
    return None


def write_only(version: OcppVersion, key: str) -> bool:
    """Whether the catalogue says `key` is write-only (a password) in `version`."""
    spec = CATALOGUES[version].spec(key)
    return spec is not None and spec.mutability is Mutability.WRITE_ONLY
