"""slime's real parse_args on every shipped recipe x precision mode x layout override, with token accounting.

Needs the conformance environment (tests/conformance/setup_env.sh; docs/conformance.md): several GB of fetched
sources and packages, so CI skips it. `RR_CONFORMANCE_TABLE=PATH` also writes the result table as Markdown.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conformance.cases import Case, cases

VARS = ("RR_CONFORMANCE_SLIME", "RR_CONFORMANCE_MEGATRON", "RR_CONFORMANCE_PYTHON")
UNSET = [v for v in VARS if not os.environ.get(v)]
pytestmark = pytest.mark.skipif(bool(UNSET), reason="conformance harness needs " + ", ".join(UNSET)
                                + ": build the environment with tests/conformance/setup_env.sh (docs/conformance.md)")
WORKER = Path(__file__).with_name("worker.py")


def verdict(result: dict) -> str:
    if result["error"]:
        return result["error"]
    if result["unconsumed"]:
        return "unconsumed: " + " ".join(result["unconsumed"])
    if result["abbreviated"]:
        return "abbreviated: " + " ".join(result["abbreviated"])
    return "OK"


def table(all_cases: list[Case], results: dict[str, dict]) -> str:
    rows = ["| recipe | precision | override | slime parse_args + validators |", "|---|---|---|---|"]
    for c in all_cases:
        outcome = f"n/a: {c.skipped}" if c.skipped else verdict(results[c.id])
        rows.append(f"| {c.recipe} | {c.mode} | {c.override or '(as shipped)'} | {outcome.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


def test_every_plan_passes_slimes_own_parser(tmp_path: Path) -> None:
    all_cases = cases()
    requests = tmp_path / "cases.json"
    requests.write_text(json.dumps([c.request for c in all_cases if not c.skipped]))
    out = tmp_path / "results.json"
    run = subprocess.run([os.environ["RR_CONFORMANCE_PYTHON"], str(WORKER), str(requests),
                          os.environ["RR_CONFORMANCE_SLIME"], os.environ["RR_CONFORMANCE_MEGATRON"], str(out)],
                         capture_output=True, text=True, check=False, timeout=3600)
    assert run.returncode == 0, run.stderr[-4000:]
    results = {r["id"]: r for r in json.loads(out.read_text())}
    text = table(all_cases, results)
    if os.environ.get("RR_CONFORMANCE_TABLE"):
        Path(os.environ["RR_CONFORMANCE_TABLE"]).write_text(text)
    bad = {i: verdict(r) for i, r in results.items() if verdict(r) != "OK"}
    assert not bad, json.dumps(bad, indent=1)
    assert sum(1 for c in all_cases if not c.skipped) == len(results) > 0
    print(text, file=sys.stderr)
