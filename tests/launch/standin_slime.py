"""A small stand-in slime package for tests: the same entry point (`slime.utils.arguments.parse_args`), parsing
sys.argv as slime does (parse_known_args, so unknown tokens are left over silently), with the options and arities
recorded from the real parsers (tests/data/slime-parser-options.txt), prefix matching on (as slime's SGLang
parser has it), and two of their rules: Megatron's `_eval_pattern` character set for --moe-layer-freq, and
slime's --ref-load existence check with the KL loss."""

from __future__ import annotations

from pathlib import Path

OPTIONS = Path(__file__).resolve().parents[1] / "data" / "slime-parser-options.txt"

ARGUMENTS = '''\
import argparse
import os
import re

OPTIONS = {options!r}


def moe_freq_type(value):
    if re.search(r"[^,\\d\\[\\]\\(\\)\\+\\*]", value):
        raise argparse.ArgumentTypeError("invalid moe_freq_type value: " + repr(value))
    return value


def parse_args(add_custom_arguments=None):
    parser = argparse.ArgumentParser(add_help=False)
    for line in open(OPTIONS):
        if line.startswith("#"):
            continue
        flag, nargs = line.split()
        if nargs == "0":
            parser.add_argument(flag, action="store_true")
        elif flag == "--moe-layer-freq":
            parser.add_argument(flag, type=moe_freq_type)
        else:
            parser.add_argument(flag, nargs=None if nargs == "1" else int(nargs) if nargs.isdigit() else nargs)
    args, _ = parser.parse_known_args()
    if args.use_kl_loss and not os.path.exists(args.ref_load):
        raise FileNotFoundError("ref_load " + args.ref_load + " does not exist, please check the path.")
    return args
'''


def write_standin(root: Path) -> Path:
    """root/slime/utils/arguments.py (with package __init__ files); returns root, the directory to import from."""
    pkg = root / "slime" / "utils"
    pkg.mkdir(parents=True)
    for d in (root / "slime", pkg):
        (d / "__init__.py").write_text("")
    (pkg / "arguments.py").write_text(ARGUMENTS.format(options=str(OPTIONS)))
    return root
