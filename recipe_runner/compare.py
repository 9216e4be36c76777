"""Pull runs from W&B (public API) or from offline run directories and compare them in one table or plot.

Offline runs are read from the files the wandb SDK wrote: `files/config.yaml` where present, and the
run's `.wandb` transaction log, which holds the run record (name, group, tags, notes, config) and every
history row. wandb >= 0.18 ships no Python reader for that log (its Go core reads it), so `_records`
walks its documented LevelDB-log framing and decodes each record with the SDK's own `wandb.proto`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from recipe_runner.errors import RunError, user_error
from recipe_runner.printable import one_line
from recipe_runner.tracking import CONFIG_KEY, config_from_notes

REWARD = "rollout/raw_reward"
ROLLOUT_TIME = "perf/rollout_time"
LOGPROB_DIFF = "train/train_rollout_logprob_abs_diff"
STEP_KEYS = {"rollout": "rollout/step", "perf": "rollout/step", "train": "train/step", "eval": "eval/step"}
IDENTITY = ("recipe", "mode", "group size", "layout")
FORMATS = ("text", "csv", "json", "markdown")
# config keys that name the run, repeat a column, or that every run has its own value of
NOT_COMPARED = ("_wandb", "wandb_", "recipe_runner.run_name", "recipe_runner.fingerprint", "recipe_runner.recipe",
                "recipe_runner.mode", "recipe_runner.group_size", "recipe_runner.layout",
                "recipe_runner.resolved.wandb.")
SHORT_NAMES = (("recipe_runner.resolved.", "recipe."), ("recipe_runner.env.", "env."), ("recipe_runner.", ""))

_LOG_HEADER = struct.Struct("<4sHB")  # ":W&B", 0xBEE1, version
_CHUNK_HEADER = struct.Struct("<IHB")  # crc32, length, type (1 full, 2 first, 3 middle, 4 last)
_BLOCK = 32768


@dataclass(frozen=True)
class Run:
    """One run as compare sees it: identity, flat config, and each metric's (step, value) series."""

    source: str
    name: str
    group: str
    tags: tuple[str, ...]
    config: dict[str, object]
    history: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    @property
    def convention(self) -> dict:
        return {k[len(CONFIG_KEY) + 1:]: v for k, v in self.config.items() if k.startswith(CONFIG_KEY + ".")}


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[object]]


# ---- reading runs -------------------------------------------------------------------------------------------------

def offline_runs(paths: list[str]) -> list[Run]:
    """Each path is an offline run directory, or a directory holding them (a `wandb/` dir)."""
    dirs: list[Path] = []
    for p in map(Path, paths):
        if not p.is_dir():
            raise user_error(str(p), "not a directory", rule="compare reads offline run directories",
                             hint="pass wandb/offline-run-* directories, or --project for runs on W&B",
                             title="no such run")
        found = [p] if list(p.glob("run-*.wandb")) else sorted(d for d in p.glob("*run-*") if d.is_dir())
        if not found:
            raise user_error(str(p), "holds no W&B run (no run-*.wandb log)",
                             hint="pass the directory wandb.init wrote (wandb/offline-run-...)", title="no such run")
        dirs += found
    return [read_offline_run(d) for d in dirs]


def read_offline_run(run_dir: Path) -> Run:
    log = next(run_dir.glob("run-*.wandb"))
    config: dict[str, object] = {}
    rows: list[dict[str, object]] = []
    meta: dict[str, object] = {}
    for rec in _records(log):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            r = rec.run
            meta = {"name": r.display_name, "group": r.run_group, "tags": tuple(r.tags), "notes": r.notes}
            config.update(_items(r.config.update))
        elif kind == "config":
            config.update(_items(rec.config.update))
        elif kind == "history":
            rows.append(_items(rec.history.item))
    if not meta:
        raise user_error(str(log), "holds no run record: the log is truncated or was never finished",
                         rule="compare reads the run's name, group and config from its run record",
                         hint="pass a complete offline run (or `wandb sync` it and use --project)",
                         title="unreadable run")
    config.update(_config_yaml(run_dir / "files" / "config.yaml"))
    return _run(str(run_dir), meta, config, rows)


def _records(path: Path) -> Iterator[object]:
    """Records of a `.wandb` log: a 7-byte header, then 32 KiB blocks of CRC-framed chunks."""
    from google.protobuf.message import DecodeError
    from wandb.proto import wandb_internal_pb2 as pb

    try:
        data = path.read_bytes()
    except OSError as e:
        raise user_error(str(path), f"cannot be read: {e.strerror}", hint="fix its permissions (chmod u+r)",
                         title="unreadable run") from None
    if len(data) < _LOG_HEADER.size or _LOG_HEADER.unpack_from(data)[:2] != (b":W&B", 0xBEE1):
        raise user_error(str(path), "not a W&B transaction log", rule="an offline run holds the SDK's run-*.wandb log",
                         hint="pass the directory wandb.init wrote (wandb/offline-run-...)", title="unreadable run")
    pos, parts = _LOG_HEADER.size, b""
    while pos + _CHUNK_HEADER.size <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _CHUNK_HEADER.size:
            pos += left
            continue
        _crc, length, kind = _CHUNK_HEADER.unpack_from(data, pos)
        if kind == 0:  # zero padding to the block's end
            pos += left
            continue
        parts += data[pos + _CHUNK_HEADER.size:pos + _CHUNK_HEADER.size + length]
        pos += _CHUNK_HEADER.size + length
        if kind in (1, 4):
            rec = pb.Record()
            try:
                rec.ParseFromString(parts)
            except DecodeError:
                raise user_error(str(path), f"a record at byte {pos} does not decode: the log is corrupt",
                                 hint="pass an intact offline run directory", title="unreadable run") from None
            parts = b""
            yield rec


def _items(items) -> dict[str, object]:
    return {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in items}


def _config_yaml(path: Path) -> dict[str, object]:
    if not path.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, ValueError, yaml.YAMLError) as e:
        raise user_error(str(path), f"cannot be read as YAML: {str(e).splitlines()[0]}",
                         hint="restore it, or delete it (the run record in the .wandb log has the config)",
                         title="unreadable run") from None
    if not isinstance(data, dict):
        raise user_error(str(path), "is not a mapping of config keys", hint="restore it, or delete it",
                         title="unreadable run")
    return {str(k): v.get("value") if isinstance(v, dict) else v for k, v in data.items()}


def api_runs(project: str, entity: str | None = None, group: str | None = None, tags: tuple[str, ...] = (),
             run_ids: tuple[str, ...] = ()) -> list[Run]:
    """Runs from the W&B public API (needs WANDB_API_KEY or `wandb login`)."""
    import wandb

    api = wandb.Api()
    path = f"{entity or api.default_entity}/{project}"
    filters: dict[str, object] = {}
    if group:
        filters["group"] = group
    if tags:
        filters["tags"] = {"$in": list(tags)}
    if run_ids:
        filters["name"] = {"$in": list(run_ids)}
    runs = list(api.runs(path, filters=filters))
    if not runs:
        raise user_error("--project", f"no runs in {path} match", hint="check --group/--tag/run ids",
                         title="no runs")
    return [_run(f"{path}/{r.id}", {"name": r.name, "group": r.group, "tags": tuple(r.tags), "notes": r.notes},
                 dict(r.config), list(r.scan_history())) for r in runs]


def select(runs: list[Run], group: str | None = None, tags: tuple[str, ...] = ()) -> list[Run]:
    """Offline runs filtered like the API query: this group, any of these tags."""
    kept = [r for r in runs if (not group or r.group == group) and (not tags or set(tags) & set(r.tags))]
    if not kept:
        raise user_error("--group/--tag", "no run matches", hint="drop the filter to see the runs' groups and tags",
                         title="no runs")
    return kept


def _run(source: str, meta: dict, config: dict, rows: list[dict[str, object]]) -> Run:
    flat = _flatten({k: v for k, v in config.items() if not k.startswith("_")})
    flat.update(_flatten({CONFIG_KEY: config_from_notes(str(meta.get("notes") or ""))}))
    return Run(source, str(meta.get("name", "")), str(meta.get("group", "")), tuple(meta.get("tags", ())), flat,
               _series(rows))


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _series(rows: list[dict[str, object]]) -> dict[str, list[tuple[float, float]]]:
    """metric -> [(step, value)], the step taken from slime's step key for the metric's prefix."""
    out: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        for key, value in row.items():
            if key.startswith("_") or key in STEP_KEYS.values() or not _is_number(value):
                continue
            step = row.get(STEP_KEYS.get(key.split("/", 1)[0], ""), row.get("_step"))
            out.setdefault(key, []).append((float(step), float(value)))  # type: ignore[arg-type]
    return {k: sorted(v) for k, v in out.items()}


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# ---- the table ----------------------------------------------------------------------------------------------------

def eval_metrics(runs: list[Run]) -> list[str]:
    """slime's per-dataset eval accuracy keys (`eval/<dataset>`), not its length or ratio side metrics."""
    keys = {k for r in runs for k in r.history if k.startswith("eval/") and "/" not in k[5:]}
    return sorted(k for k in keys if not k.endswith(("_ratio", "_len", "_length")))


def metric_columns(runs: list[Run], extra: tuple[str, ...] = ()) -> dict[str, tuple[str, str]]:
    """column -> (metric, reduction); only metrics some run logged."""
    cols = {"reward final": (REWARD, "final"), "reward best": (REWARD, "best")}
    cols.update({f"{k} final": (k, "final") for k in eval_metrics(runs)})
    cols["rollout time mean (s)"] = (ROLLOUT_TIME, "mean")
    cols["logprob diff mean"] = (LOGPROB_DIFF, "mean")
    cols.update({f"{k} final": (k, "final") for k in extra})
    return {c: m for c, m in cols.items() if any(m[0] in r.history for r in runs)}


def reduce(series: list[tuple[float, float]], how: str) -> float | None:
    if not series:
        return None
    values = [v for _, v in series]
    return {"final": values[-1], "best": max(values), "mean": sum(values) / len(values)}[how]


def differing_config(runs: list[Run]) -> list[str]:
    keys = sorted({k for r in runs for k in r.config if not k.startswith(NOT_COMPARED)})
    return [k for k in keys if len({json.dumps(r.config.get(k), sort_keys=True) for r in runs}) > 1]


def table(runs: list[Run], extra_metrics: tuple[str, ...] = ()) -> Table:
    metrics = metric_columns(runs, extra_metrics)
    diffs = differing_config(runs)
    rows = []
    for r in runs:
        c = r.convention
        identity = [c.get("recipe", "-"), c.get("mode", "-"), c.get("group_size") or "-", c.get("layout", "-")]
        values = [reduce(r.history.get(m, []), how) for m, how in metrics.values()]
        rows.append([c.get("run_name") or r.name, *identity, *values, *(r.config.get(k) for k in diffs)])
    return Table(["run", *IDENTITY, *metrics, *map(_short, diffs)], rows)


def _short(key: str) -> str:
    return next((short + key[len(long):] for long, short in SHORT_NAMES if key.startswith(long)), key)


def render(t: Table, fmt: str) -> str:
    if fmt == "json":
        return json.dumps([dict(zip(t.columns, row, strict=True)) for row in t.rows], indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(t.columns)
        w.writerows([["" if v is None else v for v in row] for row in t.rows])
        return buf.getvalue()
    cells = [[one_line(c) for c in row] for row in [t.columns] + [[_cell(v) for v in row] for row in t.rows]]
    if fmt == "markdown":
        lines = ["| " + " | ".join(row) + " |" for row in cells]
        return "\n".join([lines[0], "|" + "---|" * len(t.columns), *lines[1:]]) + "\n"
    widths = [max(len(row[i]) for row in cells) for i in range(len(t.columns))]
    return "".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n" for row in cells)


def _cell(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return v if isinstance(v, str) else json.dumps(v)


# ---- the plot -----------------------------------------------------------------------------------------------------

def plot_metrics(runs: list[Run], extra: tuple[str, ...] = ()) -> list[str]:
    wanted = [REWARD, *eval_metrics(runs), ROLLOUT_TIME, LOGPROB_DIFF, *extra]
    return [m for m in dict.fromkeys(wanted) if any(m in r.history for r in runs)]


def plot(runs: list[Run], out: Path, extra: tuple[str, ...] = (), size: tuple[float, float] = (5.0, 3.2),
         dpi: int = 100) -> Path:
    """One panel per metric against its step, one line per run labelled by its mode. Agg: no display needed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    check_plot_path(out)
    metrics = plot_metrics(runs, extra)
    if not metrics:
        raise user_error("--plot", "the runs logged none of the metrics to plot",
                         hint="pass --metric KEY for a metric they logged", title="nothing to plot")
    fig, axes = plt.subplots(1, len(metrics), figsize=(size[0] * len(metrics), size[1]), dpi=dpi, squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for r in runs:
            points = r.history.get(metric)
            if points:
                ax.plot([s for s, _ in points], [v for _, v in points], marker=".", label=_label(r))
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel(STEP_KEYS.get(metric.split("/", 1)[0], "step"))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=dpi)
    except OSError as e:
        raise RunError(f"writing the plot {out} failed: {e.strerror or e}") from None
    finally:
        plt.close(fig)
    return out


def check_plot_path(out: Path) -> None:
    """--plot names a file matplotlib can write, in a directory that exists and is writable."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    formats = sorted(FigureCanvasAgg(Figure()).get_supported_filetypes())
    ext = out.suffix.lstrip(".").lower()
    if ext not in formats:
        raise user_error("--plot", f"{str(out)!r} has {'no' if not ext else 'an unknown'} image extension",
                         rule=f"the extension picks the format: {', '.join(formats)}", hint="e.g. --plot compare.png",
                         title="invalid --plot")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK) or out.is_dir():
        raise user_error("--plot", f"cannot write {out}: "
                         + ("it is a directory" if out.is_dir() else f"{parent} is not a writable directory"),
                         rule="the plot is written to a file in an existing, writable directory",
                         hint="create the directory first, or pick another path", title="invalid --plot")


def _label(r: Run) -> str:
    c = r.convention
    mode = str(c.get("mode") or r.name)
    return f"{mode} g{c['group_size']}" if c.get("group_size") else mode
