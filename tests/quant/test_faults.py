"""The converter under concurrency, signals and OS errors, with real processes (issue 12, items 1, 3, 5).

Child processes run the real `recipe-runner` entry point. They are paused with SIGSTOP at a known point
(the lock held, or the partial directory written) so each race is decided by the test, not by timing.
Permission errors are provoked as root too: the child drops CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH first.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from recipe_runner.errors import UserError
from recipe_runner.quant.safe_output import staging

ROOT = Path(__file__).resolve().parents[2]
EXPERT = "model.layers.0.mlp.experts.{}.down_proj.weight"


def spawn(*args: object, preexec: Callable[[], None] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "recipe_runner.cli", *map(str, args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,
    )


def finish(p: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=120)
    assert "Traceback" not in err, err
    return p.returncode, out, err


def wait_for(condition: Callable[[], object], what: str, p: subprocess.Popen[str], timeout: float = 60) -> object:
    """Poll fast: the windows are short (a conversion of the test source takes a fraction of a second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        assert p.poll() is None, f"exited before {what}: {p.communicate()}"
        time.sleep(0.001)
    raise TimeoutError(what)


def partial_of(dst: Path) -> Callable[[], Path | None]:
    """The child's staging directory, once its owner record is written."""
    return lambda: next((p for p in dst.parent.glob(f".{dst.name}.partial-*") if (p / ".recipe-runner-owner").exists()),
                        None)


def family(dst: Path) -> list[str]:
    """DST and everything the converter keeps beside it (lock, partials, old copies)."""
    return sorted(p.name for p in dst.parent.iterdir() if p.name.lstrip(".").startswith(dst.name))


@pytest.fixture(scope="module")
def slow_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 MiB of routed experts: tens of ms of INT4 math or more, enough to catch the run mid-conversion."""
    root = tmp_path_factory.mktemp("slow") / "src"
    root.mkdir()
    g = torch.Generator().manual_seed(0)
    for shard in range(2):
        tensors = {EXPERT.format(12 * shard + e): torch.randn(1024, 1024, generator=g).bfloat16() for e in range(12)}
        save_file(tensors, str(root / f"model-{shard + 1:05d}-of-00002.safetensors"))
    (root / "config.json").write_text("{}")
    (root / "tokenizer.json").write_text("{}")
    return root


def group_of(dst: Path) -> int:
    qc = json.loads((dst / "config.json").read_text())["quantization_config"]
    return qc["config_groups"]["group_0"]["weights"]["group_size"]


# ---- 1. one writer per DST --------------------------------------------------------------------------------------


def test_second_conversion_into_a_locked_dst_exits_2_naming_the_holder(slow_src: Path, tmp_path: Path) -> None:
    dst = tmp_path / "D"
    first = spawn("convert", "int4", slow_src, dst, "--group-size", "128", "--quiet", "--workers", "1")
    lock = tmp_path / ".D.lock"
    wait_for(lambda: lock.exists() and lock.read_text().strip(), "the first run holds the lock", first)
    os.kill(first.pid, signal.SIGSTOP)  # the first run is mid-conversion for as long as the test likes
    try:
        code, out, err = finish(spawn("convert", "int4", slow_src, dst, "--group-size", "64", "--quiet"))
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert code == 2 and f"pid {first.pid}" in err and "another conversion" in err and "converted" not in out
    code, out, _ = finish(first)
    assert code == 0 and "converted" in out
    assert group_of(dst) == 128 and family(dst) == ["D"]


def test_publish_refuses_a_dst_that_appeared_or_changed_meanwhile(tmp_path: Path) -> None:
    dst = tmp_path / "D"
    with pytest.raises(UserError, match="invalid input") as e, staging(dst, None) as tmp:
        (tmp / "model.safetensors").write_bytes(b"new")
        dst.mkdir()  # made by hand (no lock) while the conversion ran
        (dst / "mine.txt").write_text("keep")
    assert "appeared" in e.value.render()
    assert family(dst) == ["D"] and (dst / "mine.txt").read_text() == "keep"

    checked = dst.stat()
    replaced = tmp_path / "other"
    replaced.mkdir()
    with pytest.raises(UserError) as e, staging(dst, (checked.st_dev, checked.st_ino)) as tmp:
        (tmp / "model.safetensors").write_bytes(b"new")
        dst.rename(tmp_path / "moved")
        replaced.rename(dst)
    assert "was replaced" in e.value.render() and family(dst) == ["D"] and not any(dst.iterdir())


# ---- 3. every exit path cleans up -----------------------------------------------------------------------------


def _signals_at_default() -> None:
    """The child as a terminal starts it: a suite run under `nohup` would hand it SIGHUP ignored, which the
    converter rightly keeps ignored (quant/signals.py)."""
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_mid_conversion_removes_the_partial_output(slow_src: Path, tmp_path: Path, sig: int) -> None:
    dst = tmp_path / "D"
    p = spawn("convert", "int4", slow_src, dst, "--group-size", "128", "--quiet", "--workers", "1",
              preexec=_signals_at_default)
    partial = wait_for(partial_of(dst), "the partial directory", p)
    os.kill(p.pid, signal.SIGSTOP)
    assert partial.exists() and not dst.exists()  # type: ignore[union-attr]  # caught mid-conversion
    os.kill(p.pid, sig)
    os.kill(p.pid, signal.SIGCONT)
    code, _, err = finish(p)
    assert code == 128 + sig and signal.Signals(sig).name in err and "no partial output" in err
    assert family(dst) == []


def test_a_sighup_the_caller_ignores_stays_ignored(slow_src: Path, tmp_path: Path) -> None:
    """`nohup recipe-runner convert ...` survives the terminal closing: the conversion finishes."""
    dst = tmp_path / "D"
    p = spawn("convert", "int4", slow_src, dst, "--group-size", "128", "--quiet", "--workers", "1",
              preexec=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    wait_for(partial_of(dst), "the partial directory", p)
    os.kill(p.pid, signal.SIGHUP)
    code, _, err = finish(p)
    assert code == 0, err
    assert (dst / "conversion.json").is_file() and group_of(dst) == 128


def test_a_killed_runs_partial_is_removed_by_the_next_run(slow_src: Path, tmp_path: Path) -> None:
    dst = tmp_path / "D"
    p = spawn("convert", "int4", slow_src, dst, "--group-size", "128", "--quiet", "--workers", "1")
    partial = wait_for(partial_of(dst), "the partial directory", p)
    p.kill()
    p.communicate()
    assert partial.exists()  # type: ignore[union-attr]  # SIGKILL cannot be cleaned up after ...
    code, _, err = finish(spawn("convert", "int4", slow_src, dst, "--group-size", "128", "--quiet"))
    assert code == 0 and f"removed {partial}" in err and f"pid {p.pid}" in err  # ... but the next run does it
    assert family(dst) == ["D"]


# ---- 5. OS errors: a message with the path, exit 2 (user's paths) or 1 (while running) ------------------------


def _without_dac_override() -> None:
    """Root ignores permission bits; dropping these capabilities (before exec) makes them apply again."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
            if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture(scope="module")
def unprivileged() -> Callable[..., tuple[int, str, str]]:
    probe = subprocess.run([sys.executable, "-c", "pass"], preexec_fn=_without_dac_override, check=False)
    if probe.returncode != 0:
        pytest.skip("cannot drop CAP_DAC_OVERRIDE here, so permission bits do not apply")
    return lambda *args: finish(spawn(*args, preexec=_without_dac_override))


@pytest.fixture()
def small_src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    root.mkdir()
    save_file({EXPERT.format(0): torch.randn(64, 128).bfloat16()}, str(root / "model.safetensors"))
    (root / "config.json").write_text("{}")
    (root / "tokenizer.json").write_text("{}")
    return root


@pytest.mark.parametrize(
    ("damage", "where"),
    [
        ("shard", "model.safetensors"),
        ("tokenizer", "tokenizer.json"),
        ("source dir", "src"),
        ("dst parent read-only", "out"),
    ],
)
def test_unreadable_and_unwritable_paths_exit_2_with_the_path(
    unprivileged: Callable[..., tuple[int, str, str]], small_src: Path, tmp_path: Path, damage: str, where: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = {
        "shard": small_src / "model.safetensors",
        "tokenizer": small_src / "tokenizer.json",
        "source dir": small_src,
        "dst parent read-only": out,
    }[damage]
    target.chmod(0o555 if target.is_dir() and damage.startswith("dst") else 0)
    try:
        code, stdout, err = unprivileged("convert", "int4", small_src, out / "D", "--group-size", "32", "--quiet")
    finally:
        target.chmod(0o755 if target.is_dir() else 0o644)
    assert code == 2 and where in err and "Traceback" not in err, err
    assert not (out / "D").exists() and list(out.iterdir()) == []


def test_dst_parent_that_is_a_file_exits_2(small_src: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    code, _, err = finish(spawn("convert", "int4", small_src, tmp_path / "file" / "D", "--group-size", "32"))
    assert code == 2 and str(tmp_path / "file") in err and "not a directory" in err


def test_unreadable_checkpoint_for_verify_and_inspect_exits_2(
    unprivileged: Callable[..., tuple[int, str, str]], small_src: Path
) -> None:
    (small_src / "model.safetensors").chmod(0)
    for command in ("verify", "inspect"):
        code, _, err = unprivileged(command, small_src)
        assert code == 2 and "model.safetensors" in err, err


def _file_size_limit(nbytes: int) -> Callable[[], None]:
    """Writes past `nbytes` fail with EFBIG, as a full disk fails with ENOSPC: a real OS error mid-write."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))


def test_write_failure_copying_auxiliary_files_exits_1_and_leaves_nothing(small_src: Path, tmp_path: Path) -> None:
    limit = 256 * 1024
    (small_src / "tokenizer.json").write_text(json.dumps({"v": "x" * (2 * limit)}))
    dst = tmp_path / "D"
    p = spawn("convert", "int4", small_src, dst, "--group-size", "32", "--quiet", preexec=_file_size_limit(limit))
    code, _, err = finish(p)
    assert code == 1 and "File too large" in err and "no partial output" in err, err
    assert family(dst) == []


def test_a_symlink_planted_at_the_lock_path_is_refused(small_src: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / ".D.lock").symlink_to(victim)
    code, _, err = finish(spawn("convert", "int4", small_src, tmp_path / "D", "--group-size", "32", "--quiet"))
    assert code == 2 and ".D.lock" in err and victim.read_text() == "precious"
    assert not (tmp_path / "D").exists()


def test_disk_full_while_copying_auxiliary_files_exits_1_and_leaves_nothing(small_src: Path, tmp_path: Path) -> None:
    """A real ENOSPC: the child runs in a private mount namespace with a 512 KiB tmpfs as DST's parent."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"], check=False).returncode:
        pytest.skip("no unprivileged mount namespace here (unshare -rm)")
    (small_src / "tokenizer.json").write_text(json.dumps({"v": "x" * 600_000}))
    disk = tmp_path / "disk"
    disk.mkdir()
    script = (
        'mount -t tmpfs -o size=512k tmpfs "$1" && shift && "$@"; echo "rc=$?" >&2; ls -A "$DISK" >&2'
    )
    argv = [sys.executable, "-m", "recipe_runner.cli", "convert", "int4", str(small_src), str(disk / "D"),
            "--group-size", "32", "--quiet"]
    p = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", str(disk), *argv], cwd=ROOT, text=True,
                       capture_output=True, env={**os.environ, "DISK": str(disk)}, check=False)
    assert "Traceback" not in p.stderr, p.stderr
    assert "rc=1" in p.stderr and "No space left on device" in p.stderr and "no partial output" in p.stderr
    assert p.stderr.rstrip().endswith("rc=1"), p.stderr  # `ls -A` of the full disk printed nothing after it


def test_next_run_removes_the_old_copy_a_killed_force_run_left(small_src: Path, tmp_path: Path) -> None:
    dst = tmp_path / "D"
    dst.mkdir()
    (tmp_path / ".D.old-4242").mkdir()  # a --force run killed after publishing, before deleting the old copy
    (tmp_path / ".D.old-4242" / "model.safetensors").write_bytes(b"old")
    code, _, err = finish(spawn("convert", "int4", small_src, dst, "--group-size", "32", "--force", "--quiet"))
    assert code == 0 and "removed" in err and ".D.old-4242" in err and family(dst) == ["D"]


def test_a_fifo_as_conversion_json_is_refused_not_waited_on(small_src: Path, tmp_path: Path) -> None:
    dst = tmp_path / "D"
    dst.mkdir()
    os.mkfifo(dst / "conversion.json")
    p = spawn("convert", "int4", small_src, dst, "--group-size", "32", "--quiet")
    try:
        out, err = p.communicate(timeout=60)  # reading a FIFO nobody writes would block forever
    finally:
        p.kill()
    assert p.returncode == 2 and "conversion.json" in err and "not a regular file" in err, err
