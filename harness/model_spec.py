"""`--model` as a user writes it: a candidate name, a hub id (`org/name`) or a local model folder.

A name in the candidates file is that candidate. A hub id that a candidate carries is that candidate
too. Anything else becomes a `Candidate` built from the model's own files, as `AutoConfig` reads them:

- the architecture: config.json (`model_type`, and its fields as `shape_config`);
- LoRA targets: every linear layer ("all-linear", as PEFT resolves it, written out as names);
- the prompt: the model's chat template around the question when its tokenizer has one, else the
  team's template; the template is part of the candidate, so every result records it;
- params: counted from the architecture on the meta device.

The files come through the weights module: the whole model in real mode, config and tokenizer only in
shape mode (cache first, then the hub). Counting and reading the template need transformers, so they
run in a child (`harness.model_probe`); the sweep parent never imports torch. Probe results are cached
by the config's content.

A `--candidates FILE` list may mix full entries (the candidates.yaml format) with plain strings: each
string is a hub id or a folder, resolved as above.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from harness.config import Candidate, CandidateFile, read_yaml, validation_error
from harness.errors import UserError

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
# config.json fields that say how the file was written, not what the architecture is
NOT_ARCHITECTURE = {"transformers_version", "torch_dtype", "dtype", "architectures", "quantization_config", "auto_map"}
PROBE_TIMEOUT_S = 300


@dataclass(frozen=True)
class ModelRef:
    """What `--model REF` names, before anything is read or fetched: the one rule the runs (`resolve_model`) and
    the memory model (`harness.memory.source`) both follow."""

    ref: str
    kind: Literal["candidate", "folder", "hub", "unknown"]  # unknown: not a candidate, folder or hub id
    name: str | None = None  # the candidate's name (kind candidate)
    folder: Path | None = None  # the folder as given, `~` expanded (kind folder)


def model_ref(ref: str, known: Iterable[tuple[str, str]]) -> ModelRef:
    """`ref` against the candidates' (name, hub id) pairs: a candidate's name, else a folder on this machine,
    else a candidate's hub id, else a hub id of a model no candidate carries (or nothing the harness can use)."""
    known = list(known)
    if ref in {name for name, _ in known}:
        return ModelRef(ref, "candidate", name=ref)
    path = Path(ref).expanduser()
    if path.is_dir():
        return ModelRef(ref, "folder", folder=path)
    for name, hub_id in known:
        if hub_id == ref:
            return ModelRef(ref, "candidate", name=name)
    return ModelRef(ref, "hub" if is_hub_id(ref) else "unknown")


@dataclass
class Resolved:
    candidate: Candidate
    ad_hoc: bool  # built from the model's files (not an entry of the candidates file)
    note: str = ""  # one line for the user: what was read from where
    access: str | None = None  # how the hub was used to get its files (weights.Fetched.access)


def is_hub_id(text: str) -> bool:
    return bool(HUB_ID.match(text)) and ".." not in text


def safe_name(text: str) -> str:
    """A candidate name (it becomes a file name): letters, digits, '.', '_', '-'."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-_") or "model"
    while ".." in s:
        s = s.replace("..", ".")
    return s[:100]


def _unique(name: str, taken: set[str], fallback: str) -> str:
    if name not in taken:
        return name
    name = safe_name(fallback)
    n = 2
    base = name
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def _license(folder: Path) -> str:
    """The licence from the model card's front matter, when the folder has one."""
    readme = folder / "README.md"
    try:
        text = readme.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return "unknown (see the model card)"
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end > 0:
            import yaml

            try:
                meta = yaml.safe_load(text[3:end])
            except yaml.YAMLError:
                meta = None
            if isinstance(meta, dict) and meta.get("license"):
                return str(meta["license"])
    return "unknown (see the model card)"


def read_config(folder: Path, label: str) -> dict[str, Any]:
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{label}: {path} not found; a model folder needs config.json") from None
    except (ValueError, UnicodeDecodeError, OSError) as e:
        raise UserError(f"{label}: {path} is not readable JSON ({type(e).__name__}); fix or re-download it") from None
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        raise UserError(f"{label}: {path} has no model_type; it is not a transformers model config")
    return config


def probe(folder: Path, label: str, trust_remote_code: bool) -> dict[str, Any]:
    """harness.model_probe in a child, cached by the content of config.json and the tokenizer's config."""
    from harness.child_env import child_env
    from harness.weights import cache_root

    h = hashlib.sha256()
    # which files are there (a tokenizer file added later makes a new probe), then what the small ones say
    h.update("\0".join(sorted(p.name for p in folder.iterdir())).encode() + b"\0")
    for name in ("config.json", "tokenizer_config.json", "chat_template.jinja", "chat_template.json"):
        f = folder / name
        h.update(name.encode() + b"\0" + (f.read_bytes() if f.is_file() else b"-") + b"\0")
    h.update(b"trust" if trust_remote_code else b"no-trust")
    cached = cache_root() / "probe" / f"{h.hexdigest()[:16]}.json"
    if cached.is_file():
        try:
            return json.loads(cached.read_text(encoding="utf-8"))
        except ValueError:
            pass
    cmd = [sys.executable, "-m", "harness.model_probe", str(folder)]
    if trust_remote_code:
        cmd.append("--trust-remote-code")
    env = child_env(None, {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})  # a local folder only
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise UserError(f"{label}: reading {folder} with transformers took over {PROBE_TIMEOUT_S} s") from None
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    try:
        result = json.loads(lines[-1]) if lines else {"error": (out.stderr.strip().splitlines() or ["no output"])[-1]}
    except ValueError:
        result = {"error": "unreadable output"}
    if "error" in result:
        raise UserError(
            f"{label}: transformers cannot build the model in {folder} ({result['error']}); "
            f"is it a causal language model this transformers version knows?"
        )
    from harness.atomic import atomic_write_text

    atomic_write_text(cached, json.dumps(result, ensure_ascii=False))
    return result


def candidate_from_folder(
    folder: Path, hub_id: str, name: str, label: str, trust_remote_code: bool, need_tokenizer: bool = False
) -> tuple[Candidate, str]:
    """A candidate from a model's own files (config.json, tokenizer): architecture, all-linear targets, template.
    `need_tokenizer` (real weights: the run loads the folder's tokenizer): a folder without one is a UserError."""
    config = read_config(folder, label)
    remote = "auto_map" in config
    if remote and not trust_remote_code:
        raise UserError(
            f"{label}: {hub_id} runs code from its repository (auto_map in config.json): "
            f"pass --trust-remote-code if you trust it"
        )
    info = probe(folder, label, trust_remote_code and remote)
    if need_tokenizer and info.get("tokenizer_problem"):
        raise UserError(
            f"{label}: {folder} {info['tokenizer_problem']}; save the tokenizer there "
            f"(tokenizer.save_pretrained) or copy its files from the model it was fine-tuned from"
        )
    template = info.get("prompt_template")
    shape = {k: v for k, v in config.items() if k not in NOT_ARCHITECTURE and not k.startswith("_")}
    fields: dict[str, Any] = {
        "name": name,
        "hub_id": hub_id,
        "params_b": info["params"] / 1e9,
        "params_note": f"{info['params']:,}: {info['architecture']} built from config.json on the meta device",
        "license": _license(folder),
        "family": config["model_type"],
        "model_type": config["model_type"],
        "shape_config": shape,
        "lora_target_modules": info["lora_targets"],
        "trust_remote_code": remote,
    }
    if template:
        fields["prompt_template"] = template
    try:
        cand = Candidate.model_validate(fields)
    except ValidationError as e:
        raise validation_error(label, e) from None
    prompt = "its chat template" if template else "the team's template (no chat template)"
    note = (
        f"{label}: {config['model_type']}, {info['params'] / 1e6:,.1f} M params, LoRA on all linear layers "
        f"({', '.join(info['lora_targets'])}), prompt: {prompt}"
    )
    return cand, note


def resolve_model(ref: str, candidates: CandidateFile, weights_mode: str, trust_remote_code: bool = False) -> Resolved:
    """A candidate for `--model REF` (or a string entry of a --candidates file); one-line UserError otherwise."""
    from harness import weights

    names = {c.name for c in candidates.candidates}
    what = model_ref(ref, ((c.name, c.hub_id) for c in candidates.candidates))
    if what.kind == "candidate":
        return Resolved(candidates.get(str(what.name)), ad_hoc=False)
    label = f"model '{ref}'"
    if what.folder is not None:
        folder = what.folder.resolve()
        name = _unique(safe_name(folder.name), names, f"{folder.parent.name}-{folder.name}")
        if weights_mode == "real" and not weights.has_weights(folder):
            raise UserError(f"{label}: {folder} has no weights (model.safetensors or its shards); give a folder "
                            f"saved with save_pretrained, or use --weights shape")  # fmt: skip
        real = weights_mode == "real"
        cand, note = candidate_from_folder(folder, str(folder), name, label, trust_remote_code, need_tokenizer=real)
        return Resolved(cand, ad_hoc=True, note=note)
    if what.kind == "unknown":
        known = ", ".join(sorted(names))
        raise UserError(
            f"unknown candidate '{ref}': not in the candidates file ({known}), not a folder on this machine, "
            f"and not a hub id (org/name); check the spelling, or pass --candidates FILE"
        )
    if weights_mode == "real":
        got = weights.fetch_model(ref, label)
    else:
        got = weights.fetch_shape_files(ref, label, need_config=True)
    if got.path is None:
        raise UserError(got.problem or f"{label}: not found")
    name = _unique(safe_name(ref.split("/")[-1]), names, ref.replace("/", "--"))
    real = weights_mode == "real"
    cand, note = candidate_from_folder(got.path, ref, name, label, trust_remote_code, need_tokenizer=real)
    return Resolved(cand, ad_hoc=True, note=f"{note}; files: {got.access}", access=got.access)


LIST_FORM = "a 'candidates:' list, or a plain list, of full entries, hub ids (org/name) or model folders"


def candidate_items(path: Path) -> list[Any]:
    """The entries of a --candidates file; a file that holds none is one line naming it and what it holds."""
    raw = read_yaml(path)
    if raw is None:
        raise UserError(f"--candidates {path}: the file is empty (no YAML in it); write {LIST_FORM}")
    items = raw.get("candidates") if isinstance(raw, dict) else raw
    if isinstance(raw, dict) and "candidates" not in raw:
        keys = ", ".join(map(str, raw)) or "none"
        raise UserError(f"--candidates {path}: a mapping without 'candidates' (keys: {keys}); write {LIST_FORM}")
    if not isinstance(items, list):
        what = "nothing" if items is None else f"a single {type(items).__name__} ({str(items)[:40]!r})"
        where = "its 'candidates' is" if isinstance(raw, dict) else "it holds"
        raise UserError(f"--candidates {path}: {where} {what}, not a list; write {LIST_FORM}")
    if not items:
        raise UserError(f"--candidates {path}: the list is empty; write {LIST_FORM}")
    return items


def load_candidate_list(
    path: Path, weights_mode: str, trust_remote_code: bool = False
) -> tuple[CandidateFile, list[Resolved], list[str]]:
    """A team's own candidates file: full entries and/or plain hub ids and folders.

    Returns (candidates, the entries built from model files, problems): one problem line per entry
    that cannot be resolved."""
    items = candidate_items(path)
    full = [x for x in items if isinstance(x, dict)]
    try:
        cf = CandidateFile.model_validate({"candidates": full})
    except ValidationError as e:
        raise validation_error(path, e) from None
    built: list[Resolved] = []
    problems: list[str] = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            continue
        if not isinstance(item, str) or not item.strip():
            problems.append(f"{path}: candidates[{i}]: give a full entry, a hub id (org/name) or a model folder")
            continue
        ref = item.strip()
        if not Path(ref).expanduser().is_absolute() and (path.parent / ref).is_dir():
            ref = str((path.parent / ref).resolve())  # folders in the list are relative to the list
        try:
            got = resolve_model(ref, cf, weights_mode, trust_remote_code)
        except UserError as e:
            problems.append(str(e))
            continue
        if got.ad_hoc:
            cf.candidates.append(got.candidate)
            built.append(got)
    return cf, built, problems
