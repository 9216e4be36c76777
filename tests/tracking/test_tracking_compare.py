"""compare reads back what slime's three processes logged (through the stand-in, real wandb SDK offline)."""

from __future__ import annotations

import csv
import io
import json
import struct
from pathlib import Path

import pytest
from sweep_data import MODES, REWARDS, metrics_for

from recipe_runner import compare
from recipe_runner.cli import main
from recipe_runner.errors import UserError


def _rows(runs: list[compare.Run]) -> dict[str, dict]:
    t = compare.table(runs)
    return {row["mode"]: row for row in (dict(zip(t.columns, r, strict=True)) for r in t.rows)}


def test_each_job_is_three_directories_merged_into_one_run(sweep_runs):
    dirs = sorted(sweep_runs.wandb_dir.glob("offline-run-*"))
    assert len(dirs) == 3 * len(MODES)  # driver, rollout manager, actor per job
    runs = compare.offline_runs([str(sweep_runs.wandb_dir)])
    assert len(runs) == len(MODES) and len({r.run_id for r in runs}) == len(MODES)
    assert {r.name for r in runs} == {r.name for r in sweep_runs.sweep.runs}  # the primary's name and group
    assert all(r.group == r.name for r in runs)
    # the same, given the directories one by one
    assert {r.run_id for r in compare.offline_runs([str(d) for d in dirs])} == {r.run_id for r in runs}


def test_table_values_equal_what_every_process_logged(sweep_runs):
    rows = _rows(compare.offline_runs([str(sweep_runs.wandb_dir)]))
    assert set(rows) == set(MODES)
    for r in sweep_runs.sweep.runs:
        row, logged = rows[r.plan.mode], metrics_for(r.plan.mode)
        rewards = [v for _, v in logged["rollout/raw_reward"]]  # logged by the actor
        assert row["run"] == f"qwen3-30b-a3b-int4-{r.plan.mode}-{r.plan.fingerprint[:8]}"
        assert row["recipe"] == "qwen3-30b-a3b-int4" and row["layout"] == "1x8"
        assert row["reward final"] == rewards[-1] and row["reward best"] == max(rewards)
        assert row["eval/aime final"] == logged["eval/aime"][-1][1]  # the rollout manager
        times = [v for _, v in logged["perf/rollout_time"]]
        assert row["rollout time mean (s)"] == sum(times) / len(times)
        diffs = [v for _, v in logged["train/train_rollout_logprob_abs_diff"]]
        assert row["logprob diff mean"] == sum(diffs) / len(diffs)
        assert "eval/aime-truncated_ratio final" not in row
    assert rows["int4-qat"]["group size"] == 128 and rows["bf16"]["group size"] == "-"


def test_filters_apply_to_merged_runs(sweep_runs):
    s, root = sweep_runs.sweep, str(sweep_runs.wandb_dir)
    runs = compare.offline_runs([root])
    assert len(compare.select(runs, compare.Filter(sweep=s.id))) == 3
    assert [r.convention["mode"] for r in compare.select(runs, compare.Filter(modes=("int4-qat",)))] == ["int4-qat"]
    assert len(compare.select(runs, compare.Filter(tags=("g128",)))) == 1
    one = compare.select(runs, compare.Filter(group=s.runs[0].name))
    assert len(one) == 1 and one[0].history  # the group filter keeps the job's metrics
    with pytest.raises(UserError, match="no runs"):
        compare.select(runs, compare.Filter(sweep="other"))


def test_compare_dir_and_sweep_give_one_row_per_run_with_all_metrics(sweep_runs, capsys):
    s, root = sweep_runs.sweep, str(sweep_runs.wandb_dir)
    for extra in ([], ["--sweep", s.id]):
        assert main(["compare", root, *extra, "--format", "json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert sorted(r["run"] for r in rows) == sorted(r.name for r in s.runs)
        assert all(None not in r.values() for r in rows if r["mode"] == "int4-qat")
        for col in ("reward final", "eval/aime final", "rollout time mean (s)", "logprob diff mean"):
            assert all(r[col] is not None for r in rows), col
    assert main(["compare", root, "--group", s.runs[1].name, "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["reward final"] == REWARDS[s.runs[1].plan.mode][-1]
    assert main(["compare", root, "--mode", "bf16", "--mode", "int4-qat", "--tag", f"sweep:{s.id}",
                 "--format", "json"]) == 0
    assert sorted(r["mode"] for r in json.loads(capsys.readouterr().out)) == ["bf16", "int4-qat"]


def test_config_comes_from_the_run_config_file_in_every_process(sweep_runs):
    for r in compare.offline_runs([str(sweep_runs.wandb_dir)]):
        c = r.convention
        assert c["recipe"] == "qwen3-30b-a3b-int4" and c["sweep"] == sweep_runs.sweep.id and c["layout"] == "1x8"
        assert c["model"] == "Qwen3-30B-A3B" and len(c["conversion_fingerprint"]) == 64
        assert r.config["recipe_runner.resolved.precision.mode"] == c["mode"] == r.job_type
    for d in sweep_runs.wandb_dir.glob("offline-run-*"):  # secondaries too, through slime's args
        part = compare.read_part(d)
        assert part.config["recipe_runner"]["mode"] in MODES


def test_formats(sweep_runs, capsys):
    root = str(sweep_runs.wandb_dir)
    assert main(["compare", root, "--format", "csv"]) == 0
    parsed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sorted(float(r["reward best"]) for r in parsed) == sorted(max(v) for v in REWARDS.values())
    assert main(["compare", root, "--format", "markdown"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| run | recipe | mode |") and lines[1].startswith("|---|") and len(lines) == 5
    assert main(["compare", root]) == 0
    assert "int4-qat" in capsys.readouterr().out


def test_only_differing_config_fields_are_shown(sweep_runs):
    row = _rows(compare.offline_runs([str(sweep_runs.wandb_dir)]))["int4-qat"]
    assert row["hf_checkpoint"] == "/root/Qwen3-30B-A3B-INT4-g128"  # slime's own args
    assert row["recipe.precision.mode"] == "int4-qat"  # the resolved recipe in config.recipe_runner
    assert "lr" not in row and "recipe.rollout.batch_size" not in row  # equal in every run


def test_plot_uses_slime_step_keys_and_unique_labels(sweep_runs, tmp_path):
    runs = compare.offline_runs([str(sweep_runs.wandb_dir)])
    by_mode = {r.convention["mode"]: r for r in runs}
    assert by_mode["bf16"].history["passrate/pass@8"][-1][0] == 3.0  # rollout/step, not _step
    assert by_mode["bf16"].history["eval/aime"] == [(0.0, 0.1), (2.0, 0.4)]  # eval/step
    out = compare.plot(runs, tmp_path / "c.png", size=(4.0, 3.0), dpi=50)
    head = out.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    panels = len(compare.plot_metrics(runs))
    assert panels == 4  # reward, eval/aime, rollout time, logprob diff
    assert struct.unpack(">II", head[16:24]) == (200 * panels, 150)
    twin = compare.Run("x", "id2", "n", "n", (), "", {**by_mode["bf16"].config, "recipe_runner.fingerprint": "f" * 64})
    assert compare.labels([by_mode["bf16"], twin, by_mode["int4-qat"]]) == [
        f"bf16 {by_mode['bf16'].convention['fingerprint'][:8]}", "bf16 ffffffff", "int4-qat g128"]


def test_bad_input_exits_2(tmp_path, capsys):
    assert main(["compare", str(tmp_path)]) == 2
    assert main(["compare", str(tmp_path / "missing")]) == 2
    assert main(["sweep", "qwen3-4b-bf16", "rollout.temperature=interval(0.5,1.0)"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def _copy_run(src: Path, dst: Path, cut: int | None = None, garble: int | None = None) -> Path:
    dst.mkdir()
    log = next(src.glob("run-*.wandb"))
    data = bytearray(log.read_bytes())
    if garble is not None:
        data[garble:garble + 64] = b"\x07" * 64
    (dst / log.name).write_bytes(bytes(data[:cut]))
    return dst


def test_truncated_and_malformed_logs_get_a_clear_message(sweep_runs, tmp_path, capsys):
    actor = max(sweep_runs.wandb_dir.glob("offline-run-*"), key=lambda d: len(compare.read_part(d).rows))
    size = next(actor.glob("run-*.wandb")).stat().st_size
    cut = _copy_run(actor, tmp_path / "offline-run-cut", cut=size - 40)  # a killed process: its last records lost
    assert main(["compare", str(cut), "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert "cut short" in captured.err and json.loads(captured.out)[0]["reward final"] is not None
    bad = _copy_run(actor, tmp_path / "offline-run-bad", garble=200)
    assert main(["compare", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "Traceback" not in err
    (tmp_path / "offline-run-empty").mkdir()
    (tmp_path / "offline-run-empty" / "run-x.wandb").write_bytes(b"junk")
    assert main(["compare", str(tmp_path / "offline-run-empty")]) == 2
    assert "not a W&B transaction log" in capsys.readouterr().err


def test_a_run_missing_one_process_directory_is_named(sweep_runs, tmp_path, capsys):
    """Offline, one directory per process; with the actor's left out (or overwritten: two inits of one run id
    within a second on one dir, which wandb cannot keep apart), compare says so rather than show blanks quietly."""
    parts = {d: compare.read_part(d) for d in sweep_runs.wandb_dir.glob("offline-run-*")}
    run_id = next(p.run_id for p in parts.values() if p.meta.get("group"))
    kept = [d for d, p in parts.items()
            if p.run_id == run_id and not any(k.startswith("train/") for row in p.rows for k in row)]
    assert len(kept) == 2  # the driver's and the rollout manager's
    assert main(["compare", *map(str, kept), "--format", "json"]) == 0
    err = capsys.readouterr().err
    assert f"run {run_id} has 2 of the 3 run directories" in err and "actor" in err
    assert main(["compare", str(sweep_runs.wandb_dir), "--format", "json"]) == 0
    assert "run directories" not in capsys.readouterr().err
