"""Regenerate tests/data/slime-parser-options.txt: every option of the parsers slime's parse_args runs on sys.argv.

Run in the conformance environment (tests/conformance/setup_env.sh):
    $RR_CONFORMANCE_PYTHON tests/conformance/regen_parser_options.py $RR_CONFORMANCE_SLIME $RR_CONFORMANCE_MEGATRON

slime parses sys.argv with four parsers (its pre-parse, the SGLang length pre-parse, the SGLang parser, and
Megatron's parser extended with slime's arguments); the script records them while parse_args runs on the plan of
a shipped recipe and writes each option string with its arity (argparse nargs: 0 for store_true/store_false).
tests/test_parser_rules.py walks every plan against this table in CI.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from worker import cpu_stand_ins

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "slime-parser-options.txt"


def arity(action: argparse.Action) -> str:
    if action.nargs is None:
        return "0" if isinstance(action, argparse._StoreConstAction | argparse._CountAction) else "1"
    return str(action.nargs)


def main(argv: list[str]) -> int:
    slime, megatron = argv[1], argv[2]
    sys.path[:0] = [slime, megatron, str(REPO)]
    cpu_stand_ins()
    from slime.utils.arguments import parse_args

    from recipe_runner import api, doctor

    parsers: list[argparse.ArgumentParser] = []
    original = argparse.ArgumentParser.parse_known_args

    def record(self, args=None, namespace=None):
        if args is None and self not in parsers:
            parsers.append(self)
        return original(self, args, namespace)

    argparse.ArgumentParser.parse_known_args = record
    resolved, plan, _ = api.checked_plan("qwen3-30b-a3b-int4")
    result = doctor.run_slime_parser(parse_args, plan.train_args, plan.env, resolved.shape.config, [9, 0])
    assert result.error is None, result.error
    options: dict[str, str] = {}
    for p in parsers:
        for action in p._actions:
            for o in action.option_strings:
                options.setdefault(o, arity(action))
    heads = [subprocess.run(["git", "-C", d, "rev-parse", "--short=8", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip() for d in (slime, megatron)]
    dirty = subprocess.run(["git", "-C", megatron, "status", "--porcelain"], capture_output=True, text=True,
                           check=True).stdout.strip()
    import sglang

    lines = [f"# The options of the {len(parsers)} parsers slime@{heads[0]}'s parse_args runs on sys.argv (Megatron-LM@"
             f"{heads[1]}{' + slime patches' if dirty else ''}, sglang {sglang.__version__}) and their arity",
             "# (argparse nargs; 0 = a bare flag). Regenerate: tests/conformance/regen_parser_options.py.",
             *(f"{o} {n}" for o, n in sorted(options.items()) if o.startswith("--"))]
    DATA.parent.mkdir(exist_ok=True)
    DATA.write_text("\n".join(lines) + "\n")
    print(f"wrote {DATA}: {len(lines) - 2} options from {len(parsers)} parsers")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
