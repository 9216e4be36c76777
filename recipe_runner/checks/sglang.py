"""SGLang passthrough flags: every --sglang-* flag a recipe adds verbatim must exist in slime's parser."""

from __future__ import annotations

from collections.abc import Iterator

from recipe_runner.checks.finding import Finding, error
from recipe_runner.checks.registry import rule
from recipe_runner.models import ModelShape
from recipe_runner.sglang_flags import sglang_version, unknown_flags
from recipe_runner.spec import Recipe


@rule("sglang.unknown-flag", "error",
      source="THUDM/slime@624b824a:slime/backends/sglang_utils/arguments.py:51-121,204-226")
def passthrough_flags_exist(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    for path, argv in (("rollout.sglang.extra_args", r.rollout.sglang.extra_args),
                       ("training.extra_args", r.training.extra_args)):
        for flag in unknown_flags(argv):
            yield error("sglang.unknown-flag", path,
                        f"{flag} is not an option of slime's SGLang passthrough (sglang {sglang_version()} with "
                        "slime's patches): slime would not reject it but silently drop it (its parsers use "
                        "parse_known_args), or take it as a longer --sglang- flag it abbreviates",
                        hint="TP comes from rollout.gpus_per_engine; see `python -m sglang.launch_server --help` "
                        "for the option without its --sglang- prefix")
