"""The one secrets policy: which environment variables are secrets, and where their values may not go.

A secret must never land in a plan, a rendering, a bundle, a log or a W&B field (notes, config, tags).
It reaches the job only at run time: the recipe names the variable in `launch.forward_env` and the
launcher / generated scripts pass it from the submitting environment without writing its value.

Not named `secrets.py`: that would shadow the standard library module of the same name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from recipe_runner.errors import Problem, UserError

# Names that are secrets whatever their suffix says.
SECRET_NAMES = frozenset({"WANDB_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "AWS_SECRET_ACCESS_KEY",
                          "AWS_SESSION_TOKEN", "GITHUB_TOKEN", "OPENAI_API_KEY"})
SECRET_SUFFIXES = ("_TOKEN", "_KEY", "_SECRET", "_PASSWORD")
SECRET_PARTS = ("PASSWORD", "CREDENTIAL")
# Names that look like secrets by the rules above but are not.
NOT_SECRETS = frozenset({"TOKENIZERS_PARALLELISM"})
# Values shorter than this are not matched inside other values (`FOO_KEY=1` would match every "1").
MIN_MATCHED_LENGTH = 6


def is_secret_name(name: str) -> bool:
    """Whether an environment variable of this name holds a secret, by the one documented list."""
    upper = name.upper()
    if upper in NOT_SECRETS:
        return False
    return (upper in SECRET_NAMES or upper.endswith(SECRET_SUFFIXES)
            or any(part in upper for part in SECRET_PARTS))


def secret_values(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's secret variables that are long enough to be recognised inside other values."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items() if is_secret_name(k) and len(v) >= MIN_MATCHED_LENGTH}


def find_secrets(data: object, environ: Mapping[str, str] | None = None, path: str = "", keys: bool = True
                 ) -> Iterator[tuple[str, str]]:
    """(field path, secret variable name) for each string in `data` that contains a secret's value,
    and (with `keys`) for each mapping key that is itself a secret's name with a value (an env block holding a
    secret). Pass keys=False for data whose keys are not env var names (a recipe: `data.input_key`)."""
    values = secret_values(environ)
    yield from _walk(data, values, path, keys)


def _walk(data: object, values: dict[str, str], path: str, keys: bool) -> Iterator[tuple[str, str]]:
    if isinstance(data, Mapping):
        for key, value in data.items():
            child = f"{path}.{key}" if path else str(key)
            if keys and isinstance(key, str) and is_secret_name(key) and isinstance(value, str) and value:
                yield child, key
            else:
                yield from _walk(value, values, child, keys)
    elif isinstance(data, (list, tuple)):
        for i, item in enumerate(data):
            yield from _walk(item, values, f"{path}[{i}]", keys)
    elif isinstance(data, str):
        for name, value in values.items():
            if value in data:
                yield path, name


def redact(data: object, environ: Mapping[str, str] | None = None) -> object:
    """A copy of `data` with secret-named keys dropped and secret values replaced by `<redacted:NAME>`."""
    values = secret_values(environ)
    return _redact(data, values)


def _redact(data: object, values: dict[str, str]) -> object:
    if isinstance(data, Mapping):
        return {k: _redact(v, values) for k, v in data.items() if not (isinstance(k, str) and is_secret_name(k))}
    if isinstance(data, (list, tuple)):
        return [_redact(v, values) for v in data]
    if isinstance(data, str):
        for name, value in values.items():
            data = data.replace(value, f"<redacted:{name}>")
        return data
    return data


def refuse_secrets(recipe: Mapping, environ: Mapping[str, str] | None = None) -> None:
    """Raise a UserError (exit 2) naming each field of the composed recipe that holds a secret's value, and each
    secret-named key of `launch.env`, with the fix: name the variable in `launch.forward_env`.
    The error names variables, never prints their values."""
    launch = recipe.get("launch")
    env = launch.get("env") if isinstance(launch, Mapping) else None
    found = sorted(set(find_secrets(recipe, environ, keys=False))
                   | set(find_secrets(env if isinstance(env, Mapping) else {}, environ, "launch.env")))
    if not found:
        return
    problems = []
    for where, name in found:
        held = (f"sets {name}, a secret," if where.endswith("." + name) or where == name
                else f"holds the value of ${name}, a secret in your environment,")
        problems.append(Problem(
            where, f"{held} which would be written into the plan, every script, the bundle and W&B",
            rule="secrets reach the job only by name, from the launching environment (docs/security.md)",
            hint=f"remove it, export {name} where you launch, and add launch.forward_env=[{name}] "
                 f"(on the command line: '+launch.forward_env=[{name}]')"))
    raise UserError(f"secret in recipe ({len(found)} field{'s' if len(found) > 1 else ''})", problems)
