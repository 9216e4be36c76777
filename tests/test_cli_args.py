"""Argument parsing: options and Hydra overrides intermix on every command that takes overrides."""

from __future__ import annotations

import pytest

from recipe_runner.cli import build_parser

# (argv, attributes the parsed namespace must have): each mixes options before, between and after overrides.
CASES = [
    (["plan", "R", "--format", "json", "cluster.nodes=2"], {"format": "json", "overrides": ["cluster.nodes=2"]}),
    (["plan", "R", "a=1", "--out", "D", "b=2"], {"out": "D", "overrides": ["a=1", "b=2"]}),
    (["show", "R", "--recipes-dir", "D", "k=v"], {"recipes_dir": "D", "overrides": ["k=v"]}),
    (["validate", "R", "--recipes-dir", "D", "k=v"], {"recipes_dir": "D", "overrides": ["k=v"]}),
    (["launch", "R", "--dry-run", "k=v"], {"dry_run": True, "overrides": ["k=v"]}),
    (["doctor", "R", "--recipes-dir", "D", "k=v"], {"recipes_dir": "D", "overrides": ["k=v"]}),
    (["estimate", "R", "--modes", "bf16,fp8-rollout", "k=v"], {"modes": ["bf16", "fp8-rollout"],
                                                                "overrides": ["k=v"]}),
    (["explain", "R", "--recipes-dir", "D", "rollout.temperature", "k=v"], {"key": "rollout.temperature",
                                                                           "overrides": ["k=v"]}),
    (["diff", "A", "B", "-R", "x=1", "k=v"], {"right_overrides": ["x=1"], "overrides": ["k=v"]}),
    (["sweep", "R", "--format", "json", "precision=bf16,fp8-rollout", "--group", "G", "k=v"],
     {"format": "json", "group": "G", "overrides": ["precision=bf16,fp8-rollout", "k=v"]}),
]


@pytest.mark.parametrize(("argv", "want"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_options_and_overrides_in_any_order(argv: list[str], want: dict) -> None:
    args = build_parser().parse_args(argv)
    for key, value in want.items():
        assert getattr(args, key) == value


def test_convert_positionals_after_options() -> None:
    args = build_parser().parse_args(["convert", "int4", "--group-size", "64", "SRC", "--quiet", "DST"])
    assert (str(args.src), str(args.dst), args.group_size, args.quiet) == ("SRC", "DST", 64, True)


@pytest.mark.parametrize(("argv", "needle"), [
    (["plan", "R", "--bogus"], "unrecognized arguments: --bogus"),
    (["validate", "R", "k=v", "--formt", "json"], "unrecognized arguments: --formt json"),
    (["plan"], "the following arguments are required: recipe\n"),
])
def test_errors_show_the_commands_own_usage(argv: list[str], needle: str, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert err.startswith(f"usage: recipe-runner {argv[0]} ")
    assert needle in err
