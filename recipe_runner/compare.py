"""Pull runs from W&B (public API) or from offline run directories and compare them in one table or plot.

slime logs one job from three processes (tracking.py): offline, that is three run directories with one run id,
the driver's primary (name, group, config, no metrics) and the rollout manager's and actor's secondaries
(all the metrics). `offline_runs` merges them into one Run: metrics from every process, name, group, tags, job
type and config from the primary. Each directory is read from the run's `.wandb` transaction log, which holds
the run record and every history row; wandb >= 0.18 ships no Python reader for it (its Go core reads it), so
`_records` walks its documented LevelDB-log framing and decodes each record with the SDK's own `wandb.proto`.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import os
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from recipe_runner.compose import flatten
from recipe_runner.errors import RunError, user_error
from recipe_runner.printable import one_line
from recipe_runner.spec import Stability
from recipe_runner.stability import assess
from recipe_runner.tracking import CONFIG_KEY

REWARD = "rollout/raw_reward"
ROLLOUT_TIME = "perf/rollout_time"
LOGPROB_DIFF = "train/train_rollout_logprob_abs_diff"
# metric prefix -> slime's step key (THUDM/slime@624b824a:slime/observability/wandb_utils.py:166-175)
STEP_KEYS = {"train": "train/step", "rollout": "rollout/step", "multi_turn": "rollout/step",
             "passrate": "rollout/step", "eval": "eval/step", "perf": "rollout/step"}
SLIME_PROCESSES = ("driver", "rollout manager", "actor")  # each writes its own offline directory (tracking.py)
SERVICE_STOP_S = 10.0  # how long compare waits for wandb's service process to stop
IDENTITY = ("recipe", "mode", "group size", "layout")
FORMATS = ("text", "csv", "json", "markdown")
# config keys that name the run, repeat a column, or that every run has its own value of
NOT_COMPARED = ("_wandb", "wandb_", "env_vars.", "recipe_runner.run_name", "recipe_runner.fingerprint",
                "recipe_runner.recipe", "recipe_runner.mode", "recipe_runner.group_size", "recipe_runner.layout",
                "recipe_runner.sweep", "recipe_runner.resolved.wandb.", "custom_config_path")
SHORT_NAMES = (("recipe_runner.resolved.", "recipe."), ("recipe_runner.", ""))

_LOG_HEADER = struct.Struct("<4sHB")  # ":W&B", 0xBEE1, version
_CHUNK_HEADER = struct.Struct("<IHB")  # crc32, length, type (1 full, 2 first, 3 middle, 4 last)
_BLOCK = 32768


@dataclass(frozen=True)
class Run:
    """One run as compare sees it: identity, flat config, and each metric's (step, value) series."""

    source: str
    run_id: str
    name: str
    group: str
    tags: tuple[str, ...]
    job_type: str
    config: dict[str, object]
    history: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    @property
    def convention(self) -> dict:
        return {k[len(CONFIG_KEY) + 1:]: v for k, v in self.config.items() if k.startswith(CONFIG_KEY + ".")}


@dataclass(frozen=True)
class Filter:
    """compare's run filters; each given one must hold (tags and modes: any of those given)."""

    sweep: str | None = None
    group: str | None = None
    tags: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()

    def keeps(self, r: Run) -> bool:
        c = r.convention
        return ((not self.sweep or c.get("sweep") == self.sweep) and (not self.group or r.group == self.group)
                and (not self.tags or bool(set(self.tags) & set(r.tags)))
                and (not self.modes or c.get("mode") in self.modes))


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[object]]


@dataclass(frozen=True)
class _Part:
    """One offline run directory: one process's view of a run."""

    source: str
    run_id: str
    meta: dict
    config: dict
    rows: list[dict]


MAX_CONFIG_COLUMNS = 8  # differing config keys in a text or markdown table


@dataclass(frozen=True)
class Comparison:
    """What `compare` shows: the table in one format, how many differing config keys it leaves out, the plot."""

    text: str
    hidden_columns: int
    plot: Path | None


def compare_runs(paths: list[str], project: str | None = None, entity: str | None = None, where: Filter = Filter(),
                 metrics: tuple[str, ...] = (), fmt: str = "text", baseline: str | None = None,
                 plot_to: Path | None = None) -> Comparison:
    """Read the runs (W&B `project`, else the offline `paths`), filter them, tabulate and optionally plot them."""
    if plot_to:
        check_plot_path(plot_to)  # before any run is read
    if project:
        runs = api_runs(project, entity, where, tuple(paths))
    elif paths:
        runs = select(offline_runs(paths), where)
    else:
        raise user_error("runs", "nothing to compare", hint="pass offline run directories or --project NAME",
                         title="no runs")
    check_metrics(runs, metrics)
    capped = fmt in ("text", "markdown")  # json and csv keep every differing config key
    t = table(runs, metrics, MAX_CONFIG_COLUMNS if capped else None)
    hidden = len(differing_config(runs)) - MAX_CONFIG_COLUMNS if capped else 0
    base = baseline_run(runs, baseline) if baseline else None
    if base is not None:
        t = with_stability(t, runs, base)
    drawn = plot(runs, plot_to, metrics, baseline=base) if plot_to else None
    return Comparison(render(t, fmt), max(hidden, 0), drawn)


# ---- reading offline runs -----------------------------------------------------------------------------------------

def offline_runs(paths: list[str]) -> list[Run]:
    """Each path is an offline run directory, or a directory holding them (a `wandb/` dir); one Run per run id,
    ordered by name."""
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
        dirs += [d for d in found if d not in dirs]
    return sorted(merge([read_part(d) for d in dirs]), key=lambda r: (r.name, r.run_id))


def merge(parts: list[_Part]) -> list[Run]:
    """One Run per run id, in first-seen order: rows of every part; identity and config of the primary."""
    by_id: dict[str, list[_Part]] = {}
    for part in parts:
        by_id.setdefault(part.run_id, []).append(part)
    runs = []
    for run_id, group in by_id.items():
        primary = next((p for p in group if p.meta.get("group") or p.meta.get("name")), None)
        head = primary or group[0]
        config = head.config if primary else {k: v for p in group for k, v in p.config.items()}
        rows = [row for p in group for row in p.rows]
        if not rows:
            print(f"compare: run {run_id} ({head.source}) has no metrics: pass the rollout manager's and the "
                  "actor's run directories too (a wandb/ directory holds them all)", file=sys.stderr)
        elif len(group) < len(SLIME_PROCESSES):
            print(f"compare: run {run_id} has {len(group)} of the {len(SLIME_PROCESSES)} run directories slime "
                  f"writes offline ({', '.join(SLIME_PROCESSES)}), so the metrics of the missing process are not "
                  "shown. Pass every directory of the run. If they were all passed, two of the processes started "
                  "within one second on one wandb.dir and one overwrote the other's log, which the W&B SDK cannot "
                  "prevent (wandb/sdk/wandb_init.py, set_sync_dir_suffix)", file=sys.stderr)
        runs.append(_run(", ".join(p.source for p in group), run_id, head.meta, config, rows))
    return runs


def read_part(run_dir: Path) -> _Part:
    log = next(run_dir.glob("run-*.wandb"), None)
    if log is None:
        raise user_error(str(run_dir), "holds no run-*.wandb log", title="unreadable run")
    config: dict[str, object] = {}
    rows: list[dict[str, object]] = []
    meta: dict[str, object] = {}
    run_id = ""
    for rec in _records(log):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            r = rec.run
            run_id = r.run_id
            meta = {"name": r.display_name, "group": r.run_group, "tags": tuple(r.tags), "job_type": r.job_type}
            config.update(_items(r.config.update))
        elif kind == "config":
            config.update(_items(rec.config.update))
        elif kind == "history":
            rows.append(_items(rec.history.item))
    if not run_id:
        raise user_error(str(log), "holds no run record", rule="wandb.init writes the run record first",
                         hint="the log is cut short or not a run's log; leave this directory out",
                         title="unreadable run")
    return _Part(str(run_dir), run_id, meta, config, rows)


def _records(path: Path) -> Iterator[object]:
    """Records of a `.wandb` log: a 7-byte header, then 32 KiB blocks of CRC-framed chunks.

    A log cut short (a killed process) yields what it holds, with a note; one that is not a log is refused."""
    from google.protobuf.message import DecodeError
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    if len(data) < _LOG_HEADER.size or _LOG_HEADER.unpack_from(data)[:2] != (b":W&B", 0xBEE1):
        raise user_error(str(path), "not a W&B transaction log (bad header)",
                         hint="leave this run directory out", title="unreadable run")
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
        end = pos + _CHUNK_HEADER.size + length
        if kind not in (1, 2, 3, 4) or length > left - _CHUNK_HEADER.size:
            raise user_error(str(path), f"malformed chunk at byte {pos}", hint="leave this run directory out",
                             title="unreadable run")
        if end > len(data):
            break
        parts += data[pos + _CHUNK_HEADER.size:end]
        pos = end
        if kind in (1, 4):
            rec = pb.Record()
            try:
                rec.ParseFromString(parts)
            except DecodeError:
                raise user_error(str(path), f"record ending at byte {pos} does not decode",
                                 hint="leave this run directory out", title="unreadable run") from None
            parts = b""
            yield rec
    if pos < len(data) or parts:
        print(f"compare: {path} is cut short at byte {len(data)} (the process did not finish); "
              "showing what it logged before", file=sys.stderr)


def _items(items) -> dict[str, object]:
    return {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in items}


# ---- reading runs from W&B ----------------------------------------------------------------------------------------

def api_runs(project: str, entity: str | None = None, where: Filter = Filter(), run_ids: tuple[str, ...] = ()
             ) -> list[Run]:
    """Runs from the W&B public API (needs WANDB_API_KEY or `wandb login`): no key -> exit 2, API errors -> 1.

    Online, slime's processes write to one run, so each API run is already whole."""
    try:
        return _api_runs(project, entity, where, run_ids)
    finally:
        _stop_service()


def _stop_service() -> None:
    """Stop wandb's service process, waiting at most SERVICE_STOP_S.

    wandb's own teardown, also run at exit, waits for the service with no limit (wandb 0.31
    sdk/lib/service/service_connection.py, ServiceConnection.teardown: `return self._proc.join()`). A service
    that is stuck or still retrying an unreachable server then held `compare` for minutes after it had printed
    its answer. The teardown unregisters its exit hook before it waits, so a thread bounds the wait. A service
    left behind exits on its own when this process ends, because wandb starts it with `--pid` (our pid) to watch."""
    import threading

    import wandb

    stop = threading.Thread(target=wandb.teardown, name="wandb-teardown", daemon=True)
    stop.start()
    stop.join(SERVICE_STOP_S)


def _api_runs(project: str, entity: str | None, where: Filter, run_ids: tuple[str, ...]) -> list[Run]:
    import wandb

    try:
        api = wandb.Api()
        path = f"{entity or api.default_entity}/{project}"
        runs = list(api.runs(path, filters=api_filters(where, run_ids)))
        out = [_run(f"{path}/{r.id}", r.id, {"name": r.name, "group": r.group, "tags": tuple(r.tags),
                                             "job_type": r.job_type}, dict(r.config), list(r.scan_history()))
               for r in runs]
    except wandb.errors.UsageError as e:
        raise user_error("--project", f"cannot use the W&B API: {e}", rule="reading runs from W&B needs an API key",
                         hint="export WANDB_API_KEY=... or run `wandb login`; or compare offline run directories",
                         title="no W&B API key") from None
    except (wandb.errors.Error, OSError, ValueError) as e:
        raise RunError(f"W&B API request for project {project!r} failed: {str(e).splitlines()[0] if str(e) else e!r}"
                       "\ncheck the network, WANDB_BASE_URL and the entity/project names") from None
    if not out:
        raise user_error("--project", f"no runs in {path} match", hint="check --sweep/--group/--tag/--mode/run ids",
                         title="no runs")
    return out


def api_filters(where: Filter, run_ids: tuple[str, ...] = ()) -> dict[str, object]:
    """The W&B API's MongoDB-style filter for the same fields `select` checks offline."""
    filters: dict[str, object] = {}
    if where.sweep:
        filters[f"config.{CONFIG_KEY}.sweep"] = where.sweep
    if where.group:
        filters["group"] = where.group
    if where.tags:
        filters["tags"] = {"$in": list(where.tags)}
    if where.modes:
        filters[f"config.{CONFIG_KEY}.mode"] = {"$in": list(where.modes)}
    if run_ids:
        filters["name"] = {"$in": list(run_ids)}
    return filters


def select(runs: list[Run], where: Filter = Filter()) -> list[Run]:
    """Merged runs filtered like the API query."""
    kept = [r for r in runs if where.keeps(r)]
    if not kept:
        sweeps = sorted({str(r.convention["sweep"]) for r in runs if r.convention.get("sweep")}) or ["none"]
        modes = sorted({str(r.convention.get("mode")) for r in runs})
        raise user_error("--sweep/--group/--tag/--mode", f"none of the {len(runs)} runs matches",
                         hint=f"the runs here have sweeps {', '.join(sweeps)} and modes {', '.join(modes)}",
                         title="no runs")
    return kept


def _run(source: str, run_id: str, meta: dict, config: dict, rows: list[dict[str, object]]) -> Run:
    flat = flatten({k: _value(v) for k, v in config.items() if not k.startswith("_")})
    return Run(source, run_id, str(meta.get("name", "")), str(meta.get("group", "")), tuple(meta.get("tags", ())),
               str(meta.get("job_type", "")), flat, _series(rows))


def _value(v: object) -> object:
    """A config value as the API and config.yaml give it: {"value": x} -> x."""
    return v["value"] if isinstance(v, dict) and set(v) == {"value"} else v


def _series(rows: list[dict[str, object]]) -> dict[str, list[tuple[float, float]]]:
    """metric -> [(step, value)], the step taken from slime's step key for the metric's prefix."""
    out: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        for key, value in row.items():
            if key.startswith("_") or key in STEP_KEYS.values() or not _is_number(value):
                continue
            step = row.get(STEP_KEYS.get(key.split("/", 1)[0], ""), row.get("_step"))
            if _is_number(step):
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


def table(runs: list[Run], extra_metrics: tuple[str, ...] = (), max_config: int | None = None) -> Table:
    """One row per run; `max_config` caps the differing-config columns (runs not made by recipe-runner
    can differ in dozens of keys)."""
    metrics = metric_columns(runs, extra_metrics)
    diffs = differing_config(runs)[:max_config]
    rows = []
    for r in runs:
        c = r.convention
        identity = [c.get("recipe", "-"), c.get("mode", "-"), c.get("group_size") or "-", c.get("layout", "-")]
        values = [reduce(r.history.get(m, []), how) for m, how in metrics.values()]
        rows.append([c.get("run_name") or r.name or r.run_id, *identity, *values,
                     *(r.config.get(k) for k in diffs)])
    return Table(["run", *IDENTITY, *metrics, *map(_short, diffs)], rows)


def check_metrics(runs: list[Run], extra: tuple[str, ...]) -> None:
    """A `--metric` no run logged is a typo or the wrong runs: say so instead of leaving it out."""
    logged = sorted({k for r in runs for k in r.history})
    for metric in extra:
        if metric not in logged:
            close = difflib.get_close_matches(metric, logged, n=3)
            raise user_error("--metric", f"no run logged {metric!r}", rule="--metric names a logged metric key",
                             hint=("did you mean " + " or ".join(map(repr, close)) + "?") if close else
                             f"logged: {', '.join(logged[:12])}" + (" ..." if len(logged) > 12 else ""),
                             title="unknown metric")


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


# ---- stability against a baseline (stability.py) -----------------------------------------------------------------

STABILITY_COLUMNS = ("gap vs baseline", "logprob diff slope", "mismatch growth", "verdict", "why")
THRESHOLD_KEY = "recipe_runner.resolved.tracking.stability."


def baseline_run(runs: list[Run], baseline: str) -> Run:
    """The run `--baseline` names: a run id, a run name, or a precision mode that exactly one run has."""
    exact = [r for r in runs if baseline in (r.run_id, r.name, r.group)]
    by_mode = [r for r in runs if r.convention.get("mode") == baseline]
    found = exact or by_mode
    if len(found) == 1:
        return found[0]
    if not found:
        raise user_error("--baseline", f"no run is {baseline!r}", rule="the baseline is a run id, a run name or "
                         "the precision mode of exactly one run", hint="pick one of: " + ", ".join(
                             sorted({str(r.convention.get("mode") or r.run_id) for r in runs})))
    raise user_error("--baseline", f"{len(found)} runs have mode {baseline!r}", rule="the baseline must be one run",
                     hint="name one by run id: " + ", ".join(r.run_id for r in found))


def thresholds(r: Run):
    """The run's own `tracking.stability` block from its config (it came from its recipe), else the defaults."""
    given = {k[len(THRESHOLD_KEY):]: v for k, v in r.config.items() if k.startswith(THRESHOLD_KEY)}
    try:
        return Stability.model_validate(given)
    except ValueError:
        return Stability()


def with_stability(t: Table, runs: list[Run], baseline: Run) -> Table:
    """The table plus, per run, the reward gap to the baseline, the log-prob mismatch trend and a verdict."""
    rows = []
    for row, r in zip(t.rows, runs, strict=True):
        rep = assess(r.history, None if r is baseline else baseline.history, thresholds(r))
        rows.append([*row, rep.reward_gap, rep.mismatch_slope, rep.mismatch_growth, rep.verdict,
                     "; ".join(rep.reasons) or "-"])
    return Table([*t.columns, *STABILITY_COLUMNS], rows)


# ---- the plot -----------------------------------------------------------------------------------------------------

def plot_metrics(runs: list[Run], extra: tuple[str, ...] = ()) -> list[str]:
    wanted = [REWARD, *eval_metrics(runs), ROLLOUT_TIME, LOGPROB_DIFF, *extra]
    return [m for m in dict.fromkeys(wanted) if any(m in r.history for r in runs)]


def plot(runs: list[Run], out: Path, extra: tuple[str, ...] = (), size: tuple[float, float] = (5.0, 3.2),
         dpi: int = 100, baseline: Run | None = None) -> Path:
    """One panel per metric against its slime step key, one line per run (`labels`); the baseline, if any,
    black and dashed. Agg: no display needed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    check_plot_path(out)
    metrics = plot_metrics(runs, extra)
    if not metrics:
        raise user_error("--plot", "the runs logged none of the metrics to plot",
                         hint="pass --metric KEY for a metric they logged", title="nothing to plot")
    fig, axes = plt.subplots(1, len(metrics), figsize=(size[0] * len(metrics), size[1]), dpi=dpi, squeeze=False)
    names = labels(runs)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for r, name in zip(runs, names, strict=True):
            points = r.history.get(metric)
            if points:
                style = {"color": "black", "linestyle": "--", "label": f"{name} (baseline)"} if r is baseline else {
                    "label": name}
                ax.plot([s for s, _ in points], [v for _, v in points], marker=".", **style)
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


def labels(runs: list[Run]) -> list[str]:
    """Legend labels: mode and group size; the short fingerprint, then the run id, where that is not unique."""
    def base(r: Run) -> str:
        c = r.convention
        mode = str(c.get("mode") or r.name or r.run_id)
        return f"{mode} g{c['group_size']}" if c.get("group_size") else mode

    out = [base(r) for r in runs]
    for extra in (lambda r: str(r.convention.get("fingerprint") or "")[:8], lambda r: r.run_id):
        dup = {x for x in out if out.count(x) > 1}
        out = [f"{x} {extra(r)}".rstrip() if x in dup else x for x, r in zip(out, runs, strict=True)]
    return out
