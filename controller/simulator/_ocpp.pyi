"""Typed declarations of the `ocpp` library surface the simulator uses (see `_ocpp.py`)."""

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])

class Connection(Protocol):
    async def send(self, message: str) -> None: ...
    async def recv(self) -> str: ...

class OCPPError(Exception):
    code: str
    default_description: str
    description: str
    details: dict[str, Any]

class _ChargePoint:
    id: str
    def __init__(self, id: str, connection: Connection, response_timeout: float = 30) -> None: ...
    async def call(
        self,
        payload: Any,
        suppress: bool = True,
        unique_id: str | None = None,
        skip_schema_validation: bool = False,
    ) -> Any: ...
    async def route_message(self, raw_msg: str) -> None: ...

class ChargePoint16(_ChargePoint): ...
class ChargePoint201(_ChargePoint): ...

def on(action: str, *, skip_schema_validation: bool = False) -> Callable[[_F], _F]: ...

call16: Any
result16: Any
call201: Any
result201: Any
