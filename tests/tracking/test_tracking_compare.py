"""compare reads back what the real wandb SDK logged offline: table values, formats, config diffs, plot."""

from __future__ import annotations

import csv
import io
import json
import struct

from conftest import REWARDS, metrics_for

from recipe_runner import compare
from recipe_runner.cli import main


def _rows(sweep_runs) -> dict[str, dict]:
    _, dirs, _ = sweep_runs
    t = compare.table(compare.offline_runs([str(d) for d in dirs.values()]))
    return {row["mode"]: row for row in (dict(zip(t.columns, r, strict=True)) for r in t.rows)}


def test_table_values_equal_what_was_logged(sweep_runs):
    s, _, _ = sweep_runs
    rows = _rows(sweep_runs)
    assert set(rows) == set(REWARDS)
    for r in s.runs:
        row, logged = rows[r.plan.mode], metrics_for(r.plan.mode)
        rewards = [v for _, v in logged["rollout/raw_reward"]]
        assert row["run"] == f"qwen3-30b-a3b-int4-{r.plan.mode}-{r.plan.fingerprint[:8]}"
        assert row["recipe"] == "qwen3-30b-a3b-int4" and row["layout"] == "1x8"
        assert row["reward final"] == rewards[-1] and row["reward best"] == max(rewards)
        assert row["eval/aime final"] == logged["eval/aime"][-1][1]
        times = [v for _, v in logged["perf/rollout_time"]]
        assert row["rollout time mean (s)"] == sum(times) / len(times)
        diffs = [v for _, v in logged["train/train_rollout_logprob_abs_diff"]]
        assert row["logprob diff mean"] == sum(diffs) / len(diffs)
        assert "eval/aime-truncated_ratio final" not in row
    assert rows["int4-qat"]["group size"] == 128 and rows["bf16"]["group size"] == "-"


def test_only_differing_config_fields_are_shown(sweep_runs):
    row = _rows(sweep_runs)["int4-qat"]
    assert row["hf_checkpoint"] == "/root/Qwen3-30B-A3B-INT4-g128"  # slime's own args config
    assert row["env.OPEN_TRAINING_INT4_FAKE_QAT_FLAG"] == "1"  # the convention's job env
    assert row["recipe.precision.mode"] == "int4-qat"
    assert "lr" not in row and "recipe.rollout.batch_size" not in row  # equal in every run


def test_runs_share_the_sweep_group_and_carry_tags(sweep_runs):
    s, dirs, _ = sweep_runs
    runs = compare.offline_runs([str(d) for d in dirs.values()])
    assert {r.group for r in runs} == {s.group}
    assert {r.tags for r in runs if "int4-qat" in r.tags} == {("int4-qat", "Qwen3-30B-A3B", "h200-1x8", "g128")}
    assert len(compare.select(runs, s.group, ("int4-qat",))) == 1


def test_formats(sweep_runs, capsys):
    _, _, wandb_dir = sweep_runs
    root = str(wandb_dir / "wandb")
    assert main(["compare", root, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["reward final"] for r in rows) == sorted(v[-1] for v in REWARDS.values())
    assert main(["compare", root, "--format", "csv"]) == 0
    parsed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sorted(float(r["reward best"]) for r in parsed) == sorted(max(v) for v in REWARDS.values())
    assert main(["compare", root, "--format", "markdown"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| run | recipe | mode |") and lines[1].startswith("|---|") and len(lines) == 5
    assert main(["compare", root]) == 0
    assert "int4-qat" in capsys.readouterr().out


def test_plot_is_a_png_of_the_expected_size(sweep_runs, tmp_path):
    _, dirs, _ = sweep_runs
    runs = compare.offline_runs([str(d) for d in dirs.values()])
    out = compare.plot(runs, tmp_path / "c.png", size=(4.0, 3.0), dpi=50)
    head = out.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    panels = len(compare.plot_metrics(runs))
    assert panels == 4  # reward, eval/aime, rollout time, logprob diff
    assert struct.unpack(">II", head[16:24]) == (200 * panels, 150)


def test_bad_input_exits_2(tmp_path, capsys):
    assert main(["compare", str(tmp_path)]) == 2
    assert main(["compare", str(tmp_path / "missing")]) == 2
    assert main(["sweep", "qwen3-4b-bf16", "rollout.temperature=interval(0.5,1.0)"]) == 2
    assert "Traceback" not in capsys.readouterr().err
