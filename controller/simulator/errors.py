"""Exceptions of the simulator's public API."""

from __future__ import annotations


class SimulatorError(Exception):
    """Something a simulated charger could not do; the message says what and why."""


class CallFailed(SimulatorError):
    """A call got a CALLERROR, no answer in time, or lost its connection."""


class CallErrorReply(CallFailed):
    """The central system answered with a CALLERROR; `code` is its error code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class NotConnected(CallFailed):
    """The charger is not connected and accepted by the central system."""


class SessionRefused(SimulatorError):
    """A charging session could not start: connector busy or unavailable, card refused."""
