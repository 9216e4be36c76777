"""Config-group options as a catalogue: each option file with a one-line summary, for `list --groups`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from recipe_runner.compose import GROUPS, recipe_dirs
from recipe_runner.precision import MODES

WIDTH = 90  # one line in the listing


@dataclass(frozen=True)
class GroupOption:
    group: str
    option: str
    summary: str
    path: Path


def _comment(text: str) -> str:
    """The file's first comment line (its own description), if any."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return first.lstrip("# ").strip() if first.startswith("#") else ""


def _summary(group: str, data: dict, comment: str) -> str:
    """One line: what the option sets that matters most for its group, then its own comment."""
    if group == "precision" and data.get("mode") in MODES:
        return MODES[data["mode"]].summary + (f", group size {data['group_size']}" if "group_size" in data else "")
    facts = ""
    if group == "cluster" and {"nodes", "gpus_per_node"} <= set(data):
        facts = f"{data['nodes']}x{data['gpus_per_node']} {data.get('gpu', '')}".strip()
    elif group == "model" and "name" in data:
        facts = f"{data['name']} (config {data.get('config')})"
    if group == "model":
        comment = ""  # model comments explain where fields come from, not what the option is
    line = "; ".join(x for x in (facts, comment) if x) or ", ".join(
        f"{k}={v}" for k, v in data.items() if not isinstance(v, dict | list))
    return line if len(line) <= WIDTH else line[: WIDTH - 3].rstrip() + "..."


def group_options(recipes_dir: str | Path | None = None) -> list[GroupOption]:
    """Every option of every group; a user's option shadows a shipped one of the same name."""
    seen: dict[tuple[str, str], GroupOption] = {}
    for d in recipe_dirs(recipes_dir):
        for group in GROUPS:
            for f in sorted((d / group).glob("*.yaml")):
                if (group, f.stem) in seen:
                    continue
                text = f.read_text()
                try:
                    data = yaml.safe_load(text) or {}
                except yaml.YAMLError:
                    data = {}
                data = data if isinstance(data, dict) else {}
                seen[(group, f.stem)] = GroupOption(group, f.stem, _summary(group, data, _comment(text)), f)
    return sorted(seen.values(), key=lambda o: (GROUPS.index(o.group), o.option))
