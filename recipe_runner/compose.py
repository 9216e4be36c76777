"""Recipes directory + command-line overrides -> plain dict, through Hydra's compose API.

Hydra gives us the defaults list, config groups, interpolation and the full override grammar
(`k=v`, `group=option`, `+k=v`, `~k`, lists, sweeps). This module is the one place Hydra is set up
(`hydra_inputs`: config directory, search path, entry config), and turns Hydra's exceptions, caught by
type and read through their fields, into UserErrors that name the key and suggest the nearest known one.

Hydra and OmegaConf load inside the functions that compose: a compose_cache hit never imports them.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from recipe_runner import compose_cache, limits
from recipe_runner.errors import Problem, UserError, user_error
from recipe_runner.resources import shipped
from recipe_runner.spec import Recipe

SHIPPED_RECIPES = shipped("recipes")
GROUPS = ("model", "precision", "cluster", "algorithm", "data")
ENTRY_PREFIX = "_recipe_runner_entry_"
RECIPE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


@dataclass(frozen=True)
class RecipeSource:
    """A recipe to compose: its file, and the directories Hydra searches, the user's first.

    `primary_dir` is the first of the search order (not necessarily the recipe's own directory), so a
    --recipes-dir file shadows a shipped one of the same name, group options included, for every recipe.
    """

    name: str
    primary_dir: Path
    search_dirs: tuple[Path, ...]
    file: Path

    @property
    def dirs(self) -> tuple[Path, ...]:
        """Every directory Hydra reads, in search order."""
        return (self.primary_dir, *self.search_dirs)


def recipe_dirs(extra_dir: str | Path | None = None) -> tuple[Path, ...]:
    """The recipe directories, the user's first so their recipes and group options shadow shipped ones."""
    dirs = []
    if extra_dir is not None:
        extra = Path(extra_dir).expanduser().resolve()
        if not extra.is_dir():
            what = "is not a directory" if extra.exists() else "does not exist"
            raise user_error("--recipes-dir", f"{extra_dir!r} {what}", hint="pass an existing directory")
        if not os.access(extra, os.R_OK | os.X_OK):
            raise user_error("--recipes-dir", f"{extra_dir!r} cannot be read (permission denied)",
                             rule="recipes are read from the directory", hint="fix its permissions (chmod u+rx)")
        dirs.append(extra)
    dirs.append(SHIPPED_RECIPES)
    return tuple(dirs)


def list_recipes(extra_dir: str | Path | None = None) -> list[tuple[str, Path]]:
    """(name, file) of every selectable recipe; a user recipe shadows a shipped one of the same name."""
    seen: dict[str, Path] = {}
    for d in recipe_dirs(extra_dir):
        for f in sorted(d.glob("*.yaml")):
            if f.is_file():
                seen.setdefault(f.stem, f)
    return sorted(seen.items())


def group_options(group: str, extra_dir: str | Path | None = None) -> list[str]:
    names = {f.stem for d in recipe_dirs(extra_dir) for f in (d / group).glob("*.yaml")}
    return sorted(names)


def find_recipe(name: str, extra_dir: str | Path | None = None) -> RecipeSource:
    if not RECIPE_NAME.match(name):
        raise user_error("recipe", f"{name!r} is not a recipe name", rule="a recipe is a <name>.yaml in a recipes "
                         "directory; names are letters, digits, '.', '_', '-'",
                         hint="run `recipe-runner list` to see the recipes", title="unknown recipe")
    dirs = recipe_dirs(extra_dir)
    if len(dirs) > 1:
        limits.check_tree(dirs[0])
    for d in dirs:
        path = d / f"{name}.yaml"
        if os.path.lexists(path):
            limits.check_file(path)
            return RecipeSource(name, dirs[0], dirs[1:], path)
    known = [n for n, _ in list_recipes(extra_dir)]
    raise user_error(
        "recipe", f"unknown recipe {name!r}", rule="a recipe is a <name>.yaml in a recipes directory",
        hint=_did_you_mean(name, known) or "run `recipe-runner list` to see the recipes", title="unknown recipe",
    )


def compose(name: str, overrides: list[str] | tuple[str, ...] = (), extra_dir: str | Path | None = None) -> dict:
    """Compose recipe `name` with Hydra overrides into a plain, fully interpolated dict.

    Served from the content-keyed cache (compose_cache) when the same inputs were composed before.
    """
    source = find_recipe(name, extra_dir)
    key = compose_cache.key(name, list(overrides), source.dirs)
    cached = compose_cache.load(key) if key else None
    if cached is not None:
        return cached
    cfg = _compose_cfg(source, list(overrides))
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    limits.check_resolved_size(OmegaConf.to_container(cfg, resolve=False), str(source.file))
    try:
        composed = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as e:
        raise user_error(_key_of(e) or name, f"cannot resolve interpolation: {_first_line(e)}",
                         rule="${...} must name an existing key", hint="fix or remove the interpolation",
                         title="invalid recipe") from None
    if key:
        compose_cache.store(key, composed)  # type: ignore[arg-type]
    return composed  # type: ignore[return-value]


def compose_raw(name: str, overrides: list[str] | tuple[str, ...] = (), extra_dir: str | Path | None = None):
    """The OmegaConf object (unresolved), for callers that need provenance or the raw tree."""
    return _compose_cfg(find_recipe(name, extra_dir), list(overrides))


def _compose_cfg(source: RecipeSource, overrides: list[str]):
    """Compose; a plain `key=value` that Hydra's struct mode refuses because the recipe's YAML leaves a
    schema field at its default is retried as `+key=value`.

    Users expect to set any field the schema documents (e.g. `precision.fp8_param_gather=true`) without
    Hydra's `+` prefix. Retrying only on that refusal keeps the common case to a single compose.
    """
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    overrides = list(overrides)
    _check_overrides(overrides, _extra_of(source))
    while True:
        try:
            return _hydra_compose(source, overrides)
        except (HydraException, OmegaConfBaseException) as e:
            refused = _refused_key(e, overrides)
            retry = _append_schema_key(refused, overrides) if refused else None
            if retry is None:
                raise _explain_compose_error(e, source, overrides) from None
            overrides = retry
        except RecursionError:
            raise user_error(str(source.file), "its defaults list includes itself (a cycle of recipes)",
                             rule="a recipe's defaults may include other recipes, never itself through a chain",
                             hint="remove the entry that leads back to this recipe", title="invalid recipe") from None
        except OSError as e:
            raise user_error(e.filename or str(source.file), f"cannot read: {e.strerror}",
                             rule="recipe files must be readable", hint="fix its permissions",
                             title="invalid recipe") from None
        except Exception as e:  # yaml.YAMLError and friends from a malformed file
            raise _malformed(e, source) from None


def _check_overrides(overrides: list[str], extra_dir: Path | None) -> None:
    """What Hydra would accept silently or report obscurely: hydra.* keys and a group set to nothing."""
    for o in overrides:
        key, _, value = o.partition("=")
        bare = key.lstrip("+~")
        if bare == "hydra" or bare.startswith("hydra."):
            raise user_error(o, "sets Hydra's own configuration, which recipe-runner does not use",
                             rule="overrides set recipe fields (cluster.nodes=2) and group options (precision=bf16)",
                             hint="drop it; see `recipe-runner show RECIPE` for the fields", title="invalid override")
        if bare in GROUPS and "=" in o and not key.startswith("~") and value.strip() in ("", "null", "None"):
            options = group_options(bare, extra_dir)
            raise user_error(bare, f"{o!r} selects no {bare} option", rule=f"{bare} is one of: {', '.join(options)}",
                             hint=f"pick one, e.g. {bare}={options[0]}", title="invalid override")


def _plain_key(override: str) -> str | None:
    """The key of a plain `key=value` override (not +, ++, ~ or a group selection), else None."""
    if override[:1] in "+~" or "=" not in override:
        return None
    key = override.split("=", 1)[0]
    return key if "." in key else None


def _refused_key(e: Exception, overrides: list[str]) -> str | None:
    """The key of the override struct mode refused: Hydra raises ConfigCompositionException from OmegaConf's
    ConfigAttributeError/ConfigKeyError (hydra-core 1.3 hydra/_internal/config_loader_impl.py
    `_apply_overrides_to_config`), whose `full_key` is the first missing node on the override's path
    (`cluster.ray` for `cluster.ray.head_ip=...`)."""
    from hydra.errors import ConfigCompositionException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    cause = e.__cause__ if isinstance(e, ConfigCompositionException) else e
    if not (isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and cause.full_key):
        return None
    missing = str(cause.full_key)
    keys = (_plain_key(o) for o in overrides)
    return next((k for k in keys if k and (k == missing or k.startswith(missing + "."))), missing)


def _append_schema_key(key: str, overrides: list[str]) -> list[str] | None:
    """`overrides` with the refused `key=value` turned into `+key=value`, if key is a schema field."""
    paths = schema_paths()
    if not (key in paths or _under_free_mapping(key, paths)):
        return None
    for i, o in enumerate(overrides):
        if _plain_key(o) == key:
            return [*overrides[:i], "+" + o, *overrides[i + 1:]]
    return None


def _under_free_mapping(key: str, paths: dict[str, bool]) -> bool:
    parent = key.rsplit(".", 1)[0]
    return paths.get(parent, False)


def schema_paths() -> dict[str, bool]:
    """Dotted path of every schema field -> whether it is a free-form mapping (keys are the user's)."""
    return dict(_walk_fields(Recipe, ""))


def _walk_fields(model, prefix: str):
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        ann = field.annotation
        origin = typing.get_origin(ann)
        yield path, origin is dict
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _walk_fields(ann, path)


def _hydra_compose(source: RecipeSource, overrides: list[str]):
    """Hydra's compose over the recipe directories, the user's first (raises Hydra's errors)."""
    from hydra import compose as hydra_compose

    with hydra_inputs(source, overrides) as (config_name, hydra_overrides):
        return hydra_compose(config_name, overrides=hydra_overrides)


@contextlib.contextmanager
def hydra_inputs(source: RecipeSource, overrides: list[str]) -> Iterator[tuple[str, list[str]]]:
    """Hydra initialised on the recipe directories: yields (config name, overrides) to hand its compose or
    config loader. The one place the search path is defined: the first directory is Hydra's config
    directory, the rest follow through `hydra.searchpath`, in order."""
    from hydra import initialize_config_dir

    search = f"hydra.searchpath=[{','.join('file://' + str(d) for d in source.search_dirs)}]"
    with initialize_config_dir(config_dir=str(source.primary_dir), version_base=None):
        yield entry_config(source), [search, *overrides]


def entry_config(source: RecipeSource) -> str:
    """The config name Hydra composes: the recipe's own, or for a recipe outside the first directory (a shipped
    recipe with --recipes-dir) an in-memory config whose defaults list is the recipe.

    Hydra looks a primary config up before it applies hydra.searchpath (hydra-core 1.3
    hydra/_internal/config_loader_impl.py `_process_config_searchpath`), so the recipe cannot come from the
    search path itself; everything its defaults list names then follows the search order, the user's first.
    """
    if source.file.parent == source.primary_dir:
        return source.name
    from hydra.core.config_store import ConfigStore

    name = ENTRY_PREFIX + source.name
    ConfigStore.instance().store(name=name, node={"defaults": [source.name, "_self_"]})
    return name


def _explain_compose_error(e: Exception, source: RecipeSource, overrides: list[str]) -> UserError:
    """One UserError for a Hydra or OmegaConf exception, from its type and fields (hydra-core 1.3 hydra/errors.py)."""
    from hydra.errors import MissingConfigException, OverrideParseException

    if isinstance(e, MissingConfigException) and "/" in (e.missing_cfg_file or ""):
        group, option = e.missing_cfg_file.split("/", 1)  # type: ignore[union-attr]
        options = list(e.options) if e.options else group_options(group, _extra_of(source))
        return user_error(
            group, f"unknown {group} option {option!r}", rule=f"{group} is one of: {', '.join(options)}",
            hint=_did_you_mean(option, options) or f"pick one of {', '.join(options)}", title="invalid override",
        )
    if isinstance(e, OverrideParseException):
        hint = "quote values with spaces or special characters, e.g. key='a b'"
        if "=" not in e.override and ":" in e.override:
            hint = "did you mean " + repr(e.override.replace(":", "=", 1)) + "? (key=value, not key:value)"
        return user_error(e.override or "override", "cannot parse this override",
                          rule="Hydra override grammar: key=value, group=option, +key=value, ~key, key=[a,b]",
                          hint=hint, title="invalid override")
    key, problem = _refused_key(e, overrides), "missing"
    if key is None:
        key, problem = _refused_override(overrides, source)
    if problem in ("missing", "not deletable"):
        hint = (_did_you_mean(key, sorted(set(_known_keys_or_none(source) or ()) | set(schema_paths())))
                or (f"to add a new key use +{key}=..." if problem == "missing"
                    else "run `recipe-runner show RECIPE` to see the keys"))
        return user_error(key, f"no such key {key!r} in recipe {source.name!r}",
                          rule="overrides may only set keys the recipe has (struct mode)", hint=hint,
                          title="invalid override")
    if problem == "present":
        return user_error(key, f"recipe {source.name!r} already has {key!r}", rule="+key=value adds a key the "
                          "recipe does not have", hint=f"set it with {key}=..., or ++{key}=... to add or set",
                          title="invalid override")
    return UserError("cannot compose recipe", [Problem(source.name, _first_line(e), hint=" ".join(overrides))])


def _refused_override(overrides: list[str], source: RecipeSource) -> tuple[str, str]:
    """(key, "missing" | "not deletable" | "present" | "") of the first override that cannot apply to the
    recipe's keys.

    Hydra's ConfigCompositionException for `~key` of a missing key and `+key` of a present one carries no
    field naming the override, so the overrides are read with Hydra's own parser (typed Override objects)
    and checked against the keys the recipe has without them."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    known = set(_known_keys_or_none(source) or ()) if overrides else set()
    for o in OverridesParser.create().parse_overrides(overrides) if known else ():
        key = o.key_or_group
        if o.is_delete() and key not in known:
            return key, "not deletable"
        if o.is_add() and key in known:
            return key, "present"
        if not (o.is_delete() or o.is_add() or o.is_force_add()) and key not in known:
            return key, "missing"
    return "", ""


def _malformed(e: Exception, source: RecipeSource) -> UserError:
    mark = getattr(e, "problem_mark", None)
    where = f"{mark.name}:{mark.line + 1}" if mark is not None else str(source.file)
    return user_error(where, f"malformed YAML: {_first_line(e)}", rule="recipes are YAML mappings",
                      hint="fix the syntax at that line (indentation, a missing ':' or quote)", title="invalid recipe")


def _known_keys_or_none(source: RecipeSource) -> list[str] | None:
    """known_keys, or None when the recipe does not compose even without overrides (its own error is reported)."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        return known_keys(source)
    except (HydraException, OmegaConfBaseException):
        return None


def known_keys(source: RecipeSource) -> list[str]:
    """Every dotted key path of the recipe as composed without user overrides."""
    from omegaconf import OmegaConf

    cfg = _hydra_compose(source, [])
    return sorted(flatten_keys(OmegaConf.to_container(cfg, resolve=False)))


def flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    """{"a": {"b": 1}} -> {"a.b": 1}: dotted paths to leaf values (an empty mapping is a leaf)."""
    out: dict[str, object] = {}
    for k, v in tree.items():
        if isinstance(v, dict) and v:
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def flatten_keys(tree: object, prefix: str = "") -> list[str]:
    keys = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            keys.append(path)
            keys.extend(flatten_keys(v, path))
    return keys


def _extra_of(source: RecipeSource) -> Path | None:
    return source.primary_dir if source.primary_dir != SHIPPED_RECIPES else None


def _did_you_mean(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=3, cutoff=0.6)
    if not close:
        tail = word.rsplit(".", 1)[-1]
        close = [c for c in candidates if c.rsplit(".", 1)[-1] in difflib.get_close_matches(
            tail, [x.rsplit(".", 1)[-1] for x in candidates], n=3, cutoff=0.75)][:3]
    return "did you mean " + " or ".join(repr(c) for c in close) + "?" if close else ""


def _key_of(e: Exception) -> str | None:
    key = getattr(e, "full_key", None)
    return str(key) if key else None


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def as_literal(tree: object) -> object:
    """`tree` with every string escaped so composing it again yields the same string, `${` included:
    OmegaConf reads `\\${` as a literal `${`, and doubles of backslashes before it as backslashes."""
    if isinstance(tree, dict):
        return {k: as_literal(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [as_literal(v) for v in tree]
    if isinstance(tree, str):
        return re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", tree)
    return tree
