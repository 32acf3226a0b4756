"""From flags to spec: the shipped specs, the command line's settings merged into a spec's base and axes (a bad
flag is a one-line error naming it), the models an axis lists."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness import backends, flags
from harness.config import REPO_ROOT, SweepSpec, base_problems, deep_merge, make_spec, parse_job
from harness.errors import UserError, UserErrors
from harness.flags import setting_axes_given
from harness.overrides import apply_sets

DEFAULT_SPEC = REPO_ROOT / "benchmarks" / "cpu-default.yaml"
STUDY_SPEC = REPO_ROOT / "benchmarks" / "seed-study.yaml"


def _spec_path(p: str) -> Path:
    """A spec path: as given (relative to the current directory), else one of the shipped specs."""
    path = Path(p).expanduser()
    if not path.exists() and (REPO_ROOT / p).exists():
        path = REPO_ROOT / p
    return path


def _weights_path(args: argparse.Namespace) -> str | None:
    """--weights-path: an existing save_pretrained folder, for the one --model it is given with."""
    given = getattr(args, "weights_path", None)
    if given is None:
        return None
    if not getattr(args, "model", None):
        raise UserError(f"--weights-path {given}: give it with --model (it holds the weights of that one model)")
    p = Path(given).expanduser()
    if not p.is_dir():
        raise UserError(f"--weights-path {given}: no such folder; give the folder you saved with save_pretrained")
    if not (p / "config.json").is_file():
        raise UserError(
            f"--weights-path {given}: no config.json there; point it at a folder saved with save_pretrained"
        )
    return str(p.resolve())


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Command-line settings that override a spec's base (None = not given)."""
    o: dict[str, Any] = {}

    def put(path: str, value: Any) -> None:
        if value is None:
            return
        node = o
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value

    put("data.path", getattr(args, "data", None))
    if getattr(args, "data_columns", None):
        from harness.data import parse_columns

        put("data.columns", parse_columns(args.data_columns))
    put("train.max_steps", getattr(args, "max_steps", None))
    put("data.train_rows", getattr(args, "train_rows", None))
    put("data.eval_rows", getattr(args, "prompts", None))
    put("generation.max_new_tokens", getattr(args, "max_new_tokens", None))
    put("generation.batch_size", getattr(args, "gen_batch", None))
    put("device", getattr(args, "device", None))
    put("weights_path", _weights_path(args))
    if getattr(args, "trust_remote_code", False):
        o["trust_remote_code"] = True
    if getattr(args, "save_adapters", False):
        o["save_adapter"] = True
    for path, value in backends.flag_settings(args).items():  # each backend's own options, from the registry
        put(path, value)
    return o


def _apply(spec: SweepSpec, args: argparse.Namespace, source: str, **fields: Any) -> SweepSpec:
    """The spec with command-line settings applied, validated again (a bad --ranks is a one-line error)."""
    raw = deep_merge(spec.model_dump(mode="json"), fields)
    raw["base"] = deep_merge(raw.get("base", {}), _overrides(args))
    if getattr(args, "weights", None):
        raw["weights"] = args.weights
    if getattr(args, "repeats", None) is not None:  # 0 too: refused by the spec's check, not ignored
        raw["axes"]["repeats"] = args.repeats
    if getattr(args, "emulate", None):
        raw["axes"]["emulate"] = args.emulate
    if getattr(args, "job", None):
        raw["job"] = parse_job(args.job).model_dump(exclude_unset=True)
    raw = apply_sets(raw, getattr(args, "set", None))  # --set PATH=VALUE, last: it wins over the flags
    typed = flags.typed(args)
    changed = flags.changed_settings(typed)
    if changed:  # the spec's description states the spec's own settings (the report states those that ran)
        raw["description"] = f"{raw['name']} with {', '.join(changed)} given on the command line"
    problems = base_problems(raw["base"], source, typed)  # with the axes' problems: one line each
    try:
        spec = make_spec(raw, source, typed=typed)
    except UserErrors as e:
        raise UserErrors(list(dict.fromkeys(e.lines + problems))) from None
    if problems:
        raise UserErrors(problems)
    return spec


def _axes(args: argparse.Namespace) -> dict[str, Any]:
    """Axes given on the command line (--model, --ranks, --backends, --quants, --emulate, and the setting axes)."""
    axes: dict[str, Any] = {}
    if getattr(args, "model", None):
        axes["candidates"] = [args.model]
    for name in ("ranks", "backends", "quants", "emulate"):
        if getattr(args, name, None):
            axes[name] = getattr(args, name)
    return {**axes, **setting_axes_given(args)}


def _list_names(args: argparse.Namespace) -> list[str]:
    """Every entry of --candidates FILE, as the axis (names, hub ids and folders alike)."""
    from harness.model_spec import candidate_items

    path = Path(args.candidates).expanduser()
    if not path.is_file():
        raise UserError(
            f"--candidates {args.candidates}: file not found (relative paths start at the current directory)"
        )
    items = candidate_items(path)  # a file that parses to nothing is named, with what it holds
    names = [x.get("name") if isinstance(x, dict) else x for x in items]
    return [str(n) for n in names if n]


def _short(model: str) -> str:
    from harness.model_spec import safe_name

    return safe_name(model.rstrip("/").split("/")[-1])
