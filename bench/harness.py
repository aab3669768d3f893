"""What the benchmarks share: a generated fleet, a free port, a server process to wait for."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

HEAD = """apiVersion: chargectl.io/v1alpha1
kind: Team
metadata: {name: bench}
spec: {displayName: Bench, handle: bench}
---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata: {name: site}
spec: {team: bench, displayName: Site}
"""


def write_fleet(root: Path, chargers: int, configuration: str = "") -> Path:
    """`chargers` OCPP 1.6 chargers CP-00000... at one location, each with `configuration`
    (YAML lines indented under spec.configuration)."""
    fleet = root / "fleet"
    fleet.mkdir()
    extra = f"  rebootPolicy: WhenIdle\n  configuration:\n{configuration}" if configuration else ""
    body = "".join(
        f"""---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata: {{name: cp-{i:05d}}}
spec:
  ocppIdentity: CP-{i:05d}
  location: site
  ocppVersion: "1.6"
  connectors: [{{id: 1, type: Type2, maxCurrent: 32}}]
{extra}"""
        for i in range(chargers)
    )
    (fleet / "fleet.yaml").write_text(HEAD + body)
    return fleet


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_listening(port: int, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    """Until the server accepts TCP connections; exits if it died."""
    for _ in range(int(seconds * 10)):
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise SystemExit("server did not start listening")
