"""How long `chargectl validate` takes on a large fleet, against what parsing alone costs.

    python bench/validate.py                 # 10,000 chargers, 5 runs
    python bench/validate.py --chargers 2000 --runs 3

Generates a realistic fleet (locations of 20 chargers with a grid connection and a sub-circuit
each, cards, tariffs, teams) in a temporary directory, then times, in the same go:

- `chargectl validate DIR` as a user runs it (a fresh process each run, start-up included);
- baseline 1: only reading the same files with ruamel.yaml's C safe loader (the floor);
- baseline 2: reading them with ruamel.yaml's round-trip loader (what keeping every source
  position would cost; `validate` only pays for it on files with problems).

Prints medians and the ratios between them. Results are figures for a note, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHARGERS_PER_LOCATION = 20
HEADER = "# yaml-language-server: $schema=../schemas/all.json\n"


def _location(i: int) -> str:
    return f"""---
apiVersion: chargectl.io/v1alpha1
kind: Location
metadata:
  name: site-{i:05d}
  labels: {{region: r{i % 7}}}
spec:
  team: team-{i % 10}
  displayName: Site {i}
  address: {{street: Main Street {i}, postalCode: "{1000 + i % 9000}", city: Utrecht, country: NL}}
  coordinates: {{latitude: "52.{i:04d}", longitude: "5.{i:04d}"}}
  timezone: Europe/Amsterdam
  tariff: tariff-{i % 50}
  acceptedCards:
    teams: [team-{i % 10}]
    selector: {{matchLabels: {{fleet: "{i % 10}"}}}}
  chargerDefaults:
    settings:
      heartbeatInterval: 300
      meterValueSampleInterval: 60
      meterValuesSampledData: [Energy.Active.Import.Register, Current.Import, Power.Active.Import]
    configuration:
      ConnectionTimeOut: 90
  maintenanceWindow:
    - {{days: [Monday, Tuesday, Wednesday, Thursday, Friday], start: "01:00", end: "05:00"}}
---
apiVersion: chargectl.io/v1alpha1
kind: PowerLimit
metadata: {{name: site-{i:05d}-grid}}
spec:
  location: site-{i:05d}
  limit: {{currentPerPhase: 250}}
  phases: 3
---
apiVersion: chargectl.io/v1alpha1
kind: PowerLimit
metadata: {{name: site-{i:05d}-row-a}}
spec:
  location: site-{i:05d}
  parent: site-{i:05d}-grid
  chargers:
    selector: {{matchLabels: {{row: a}}}}
  limit: {{currentPerPhase: 125}}
  schedule:
    - {{days: [Monday, Friday], start: "17:00", end: "20:00", limit: {{currentPerPhase: 80}}}}
"""


def _charger(i: int, location: int) -> str:
    v201 = i % 4 == 0
    version = "2.0.1" if v201 else "1.6"
    raw = (
        "      OCPPCommCtrlr.WebSocketPingInterval: 30\n"
        if v201
        else "      WebSocketPingInterval: 30\n"
    )
    return f"""---
apiVersion: chargectl.io/v1alpha1
kind: Charger
metadata:
  name: cp-{i:05d}
  labels: {{row: {"a" if i % 2 else "b"}, vendor: acme}}
spec:
  ocppIdentity: CP-{i:05d}
  location: site-{location:05d}
  ocppVersion: "{version}"
  expected: {{vendor: Acme, model: AC22, serialNumber: SN{i:08d}}}
  connectors:
    - {{id: 1, type: Type2, maxCurrent: 32, phases: 3}}
    - {{id: 2, type: Type2, maxCurrent: 32, phases: 3}}
  security:
    profile: 1
    basicAuthPassword: {{secretKeyRef: {{name: charger-passwords, key: cp-{i:05d}}}}}
  settings:
    heartbeatInterval: 600
    localAuthorizeOffline: true
    availability: Operative
  configuration:
{raw}  firmware: {{version: "1.4.2", url: "https://firmware.example.com/ac22-1.4.2.bin"}}
  rebootPolicy: MaintenanceWindow
"""


def generate(root: Path, chargers: int) -> None:
    locations = max(1, chargers // CHARGERS_PER_LOCATION)
    (root / "chargers").mkdir(parents=True)
    teams = "".join(
        f"---\napiVersion: chargectl.io/v1alpha1\nkind: Team\nmetadata: {{name: team-{t}}}\n"
        f"spec: {{displayName: Team {t}, handle: team-{t}}}\n"
        for t in range(10)
    )
    (root / "teams.yaml").write_text(HEADER + teams)
    tariffs = "".join(
        f"""---
apiVersion: chargectl.io/v1alpha1
kind: Tariff
metadata: {{name: tariff-{t}}}
spec:
  currency: EUR
  energyPrice: "0.{30 + t}"
  startFee: "0.50"
  vatRate: "21"
  idleFee: {{pricePerMinute: "0.10", gracePeriodMinutes: 30}}
  periods:
    - {{days: [Saturday, Sunday], start: "00:00", end: "24:00", energyPrice: "0.25"}}
    - {{days: [Monday, Tuesday, Wednesday, Thursday, Friday], start: "00:00", end: "06:00",
       energyPrice: "0.22"}}
"""
        for t in range(50)
    )
    (root / "tariffs.yaml").write_text(HEADER + tariffs)
    cards = "".join(
        f"---\napiVersion: chargectl.io/v1alpha1\nkind: Card\nmetadata:\n  name: card-{c:05d}\n"
        f'  labels: {{fleet: "{c % 10}"}}\nspec:\n  idTag: "04{c:08X}"\n'
        f"  team: team-{c % 10}\n  holder: {{name: Driver {c}}}\n"
        for c in range(chargers)
    )
    (root / "cards.yaml").write_text(HEADER + cards)
    (root / "locations.yaml").write_text(HEADER + "".join(_location(i) for i in range(locations)))
    for loc in range(locations):
        start = loc * CHARGERS_PER_LOCATION
        end = chargers if loc == locations - 1 else start + CHARGERS_PER_LOCATION
        text = HEADER.replace("../", "../../") + "".join(
            _charger(i, loc) for i in range(start, end)
        )
        (root / "chargers" / f"site-{loc:05d}.yaml").write_text(text)


def _time(command: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-3000:]}"
            f"{result.stderr[-3000:]}"
        )
    return elapsed


_PARSE = """
import sys
from pathlib import Path
from ruamel.yaml import YAML
yaml = YAML(typ=sys.argv[2], pure=False)
for f in sorted(Path(sys.argv[1]).rglob("*.yaml")):
    list(yaml.load_all(f.read_text()))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chargers", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    chargectl = str(Path(sys.executable).with_name("chargectl"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "fleet"
        generate(root, args.chargers)
        files = list(root.rglob("*.yaml"))
        lines = sum(f.read_text().count("\n") for f in files)
        print(f"fleet: {args.chargers} chargers, {len(files)} files, {lines} lines of YAML")
        timings: dict[str, list[float]] = {"validate": [], "parse-safe": [], "parse-rt": []}
        for run in range(args.runs):
            # Interleaved, so a noisy neighbour hurts every measurement alike.
            timings["validate"].append(_time([chargectl, "validate", str(root)]))
            timings["parse-safe"].append(_time([sys.executable, "-c", _PARSE, str(root), "safe"]))
            timings["parse-rt"].append(_time([sys.executable, "-c", _PARSE, str(root), "rt"]))
            print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in timings.items()))
    median = {k: statistics.median(v) for k, v in timings.items()}
    print()
    print(
        f"chargectl validate ({args.chargers} chargers): median {median['validate']:.2f} s "
        f"over {args.runs} runs (goal: < 5 s for 10,000)"
    )
    print(
        f"baseline, C safe-loader parse only: median {median['parse-safe']:.2f} s "
        f"-> validate/parse = {median['validate'] / median['parse-safe']:.2f}x"
    )
    print(
        f"baseline, round-trip parse only:    median {median['parse-rt']:.2f} s "
        f"-> validate/round-trip = {median['validate'] / median['parse-rt']:.2f}x"
    )


if __name__ == "__main__":
    main()
