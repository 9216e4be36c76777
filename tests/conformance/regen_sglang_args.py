"""Regenerate recipe_runner/data/sglang-server-args.txt from the real ServerArgs plus slime's SGLang patches.

Run in the conformance environment (tests/conformance/setup_env.sh):
    $RR_CONFORMANCE_PYTHON tests/conformance/regen_sglang_args.py $RR_CONFORMANCE_SLIME

The pip wheel of the pinned sglang is unpatched; slime's image applies docker/patch/latest/sglang*.patch, whose
server_args.py hunks add ServerArgs fields. ServerArgs (sglang 0.5.15) turns each annotated field `foo_bar` into the
option `--foo-bar` with dest `foo_bar`; this script checks that rule on the real fields before applying it to the
patched-in ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

from worker import cpu_stand_ins

DATA = Path(__file__).resolve().parents[2] / "recipe_runner" / "data" / "sglang-server-args.txt"
PATCHES = "docker/patch/latest"
FIELD = re.compile(r"^\+    (\w+): A\[")


def patch_fields(slime: Path) -> dict[str, list[str]]:
    """patch file name -> ServerArgs fields its server_args.py hunks add."""
    out = {}
    for patch in sorted((slime / PATCHES).glob("sglang*.patch")):
        fields, in_server_args = [], False
        for line in patch.read_text().splitlines():
            if line.startswith("+++ "):
                in_server_args = line.endswith("/sglang/srt/server_args.py")
            elif in_server_args and (m := FIELD.match(line)):
                fields.append(m.group(1))
        if fields:
            out[patch.name] = fields
    return out


def main(argv: list[str]) -> int:
    slime = Path(argv[1])
    cpu_stand_ins()
    import sglang
    from sglang.srt.server_args import ServerArgs

    parser = argparse.ArgumentParser()
    ServerArgs.add_cli_args(parser)
    live = {o: a.dest for a in parser._actions for o in a.option_strings if o.startswith("--")}
    derived = {f.name for f in dataclasses.fields(ServerArgs) if live.get("--" + f.name.replace("_", "-")) == f.name}
    assert len(derived) > 0.9 * len(dataclasses.fields(ServerArgs)), "ServerArgs no longer makes --foo-bar of foo_bar"
    commit = (slime / ".git").exists() and _head(slime)
    lines = [f"# sglang {sglang.__version__} (the image of slime@{commit}: its docker/Dockerfile SGLANG_IMAGE_TAG): "
             "every ServerArgs", "# CLI option and its dest, from argparse after ServerArgs.add_cli_args, then the "
             "fields slime's", "# SGLang patches add. Regenerate: tests/conformance/regen_sglang_args.py "
             "(docs/conformance.md).", *(f"{o} {d}" for o, d in sorted(live.items()))]
    for patch, fields in patch_fields(slime).items():
        lines.append(f"# added by slime's {PATCHES}/{patch}")
        lines += [f"--{f.replace('_', '-')} {f}" for f in fields if f"--{f.replace('_', '-')}" not in live]
    DATA.write_text("\n".join(lines) + "\n")
    print(f"wrote {DATA}: {len(live)} ServerArgs options + {sum(map(len, patch_fields(slime).values()))} from patches")
    return 0


def _head(repo: Path) -> str:
    import subprocess

    return subprocess.run(["git", "-C", str(repo), "rev-parse", "--short=8", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
