"""The machine-readable plan: the contract in DESIGN.md.

At least: recipe, mode, fingerprint, env, train_args, steps [{name, argv, env}], warnings.
"""

from __future__ import annotations

import json

from recipe_runner.plan import Plan


def render(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), indent=2) + "\n"
