"""The commands through the real `recipe-runner` entry point: exit codes, stdout, clean stderr."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from recipe_runner.cli.checkpoints import register

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recipe_runner.cli", *args], capture_output=True, text=True, cwd=ROOT)


def assert_user_error(p: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    for n in needles:
        assert n in p.stderr, p.stderr


def test_parsers_keep_the_plan_spellings() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    a = parser.parse_args(["convert", "fp8", "S", "D", "--block-size", "128", "128"])
    assert a.block_size == [128, 128] and a.device == "auto" and callable(a.func)
    a = parser.parse_args(
        ["convert", "int4", "S", "D", "--group-size", "128", "--ignore", "x", "re:y", "--ignore", "z"]
    )
    assert a.group_size == 128 and a.ignore == ["x", "re:y", "z"]
    for argv in (["convert", "int4", "S", "D", "--group-size", "128", "--asymmetric"], ["convert", "int4", "S", "D"]):
        with pytest.raises(SystemExit) as e:
            parser.parse_args(argv)
        assert e.value.code == 2


def main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The CLI's own `main`, in process (the subprocess tests above cover the real entry point)."""
    from recipe_runner.cli import main as cli_main

    code = cli_main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_entry_point_exit_codes(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    """0 on success, 2 on bad input, never a traceback (exit 1 is tested in process: verify is slow to import)."""
    dst = tmp_path / "fp8"
    p = run("convert", "fp8", str(checkpoints["qwen3"]), str(dst), "--block-size", "128", "128", "--quiet")
    assert p.returncode == 0 and "tensors quantized" in p.stdout, p.stderr
    assert_user_error(
        run("convert", "fp8", str(checkpoints["qwen3"]), str(dst), "--block-size", "64", "64"),
        "already exists",
        "--force",
    )


def test_failed_verification_exits_1(
    checkpoints: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dst = tmp_path / "fp8"
    assert main(capsys, "convert", "fp8", str(checkpoints["qwen3"]), str(dst), "--quiet")[0] == 0
    index = dst / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    data["metadata"]["total_size"] = 1
    index.write_text(json.dumps(data))
    code, out, err = main(capsys, "verify", str(dst))
    assert code == 1 and "total_size" in err and "FAILED" in out


def test_convert_verify_inspect(
    checkpoints: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = checkpoints["qwen3_moe"], tmp_path / "int4"
    code, out, _ = main(
        capsys, "convert", "int4", str(src), str(dst), "--group-size", "32", "--device", "cpu", "--workers", "2"
    )
    assert code == 0 and "tensors quantized" in out
    code, out, _ = main(capsys, "convert", "int4", str(src), str(dst), "--group-size", "32")
    assert code == 0 and "nothing to do" in out
    code, _, err = main(capsys, "convert", "int4", str(src), str(dst), "--group-size", "64")
    assert code == 2 and "already exists" in err
    code, out, _ = main(capsys, "verify", str(dst), "--source", str(src))
    assert code == 0 and "OK" in out and "compressed-tensors" in out
    code, out, _ = main(capsys, "inspect", str(dst), "--json")
    assert code == 0 and json.loads(out)["format"].startswith("compressed-tensors pack-quantized")
    code, out, _ = main(capsys, "inspect", str(dst))
    assert code == 0 and "24 quantized" in out
    code, out, _ = main(capsys, "verify", str(dst), "--json")
    assert code == 0 and json.loads(out)["ok"] is True


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (("convert", "fp8", "{tmp}/nope", "{tmp}/o"), ("nope: does not exist",)),
        (("convert", "int4", "{qwen3}", "{tmp}/o", "--group-size", "128"), ("no tensor would be quantized",)),
        (("convert", "int4", "{moe}", "{tmp}/o", "--group-size", "12"), ("--group-size", "32, 64, 128")),
        (
            ("convert", "int4", "{moe}", "{tmp}/o", "--group-size", "32", "--no-default-ignore", "--ignore", "lm_head"),
            ("router",),
        ),
        (("convert", "int4", "{moe}", "{tmp}/o", "--group-size", "32", "--ignore", "re:(["), ("regular expression",)),
        (("convert", "fp8", "{moe}", "{tmp}/o", "--workers", "0"), ("--workers",)),
        (("verify", "{qwen3}"), ("quantization_config",)),
        (("inspect", "{tmp}"), ("no .safetensors",)),
    ],
)
def test_bad_input_exits_2(
    checkpoints: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    needles: tuple[str, ...],
) -> None:
    paths = {"tmp": str(tmp_path), "qwen3": str(checkpoints["qwen3"]), "moe": str(checkpoints["qwen3_moe"])}
    code, _, err = main(capsys, *(a.format(**paths) for a in argv))
    assert code == 2
    for n in needles:
        assert n in err, err
    assert not (tmp_path / "o").exists()


def test_cpu_conversion_needs_no_torch_and_cuda_says_how_to_install_it(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    """The numpy engine converts without torch; CUDA and verify say how to install it (exit 2, no traceback)."""
    src = str(checkpoints["qwen3_moe"])

    def no_torch(*argv: str) -> subprocess.CompletedProcess[str]:
        code = ("import sys; sys.modules['torch'] = None; from recipe_runner.cli import main; sys.exit(main("
                "sys.argv[1:]))")
        return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=ROOT)

    p = no_torch("convert", "int4", src, str(tmp_path / "o"), "--group-size", "32", "--quiet")
    assert p.returncode == 0, p.stderr
    assert "numpy" in p.stdout
    assert_user_error(no_torch("convert", "int4", src, str(tmp_path / "c"), "--group-size", "32", "--device", "cuda"),
                      "torch", "recipe-runner[convert]")
    assert not (tmp_path / "c").exists()
    assert_user_error(no_torch("verify", str(tmp_path / "o")), "torch", "recipe-runner[convert]")


def test_convert_path_imports_only_what_it_needs(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    """Start-up: the numpy engine's whole command loads no Hydra, pydantic, plan modules or torch."""
    code = (
        "import sys; from recipe_runner.cli import main; "
        "code = main(['convert', 'fp8', sys.argv[1], sys.argv[2], '--quiet']); "
        "heavy = [m for m in ('hydra', 'omegaconf', 'pydantic', 'recipe_runner.plan', 'recipe_runner.spec', "
        "'torch', 'safetensors') if m in sys.modules]; "
        "print(heavy); sys.exit(code or bool(heavy))"
    )
    p = subprocess.run([sys.executable, "-c", code, str(checkpoints["qwen3"]), str(tmp_path / "o")],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, (p.stdout, p.stderr)
