"""The one preflight: data, weights and capability, checked before anything is written or any model loads.
Used by `bench`, `sweep` and `run` (`preflight`, in the parent, before the sweep) and by the run child
(`run_data`, `capability`, at its start).

1. Data (`check_data`, then per run `data_splits`): the data file or hub data set loaded (a hub data set is
   fetched and its commit pinned in every request), the rows asked for selected, the prompt template checked
   against them; the same function in the parent and in the child.
2. Models (`resolve_candidates`): the names the sweep lists (candidate names, hub ids, model folders) become
   candidates (`harness.model_spec`); a model that cannot be had is one line.
3. Weights (`check_weights`): for every distinct model of the runs,
   - real weights: `--weights-path`, the GGUF package, a local folder, or the hub: the Hugging Face cache
     first, then a download (progress bars, resumable); cache only when the user set HF_HUB_OFFLINE=1;
     a folder without tokenizer files is refused here (a model folder's probe in `harness.model_spec`
     asks transformers, and names the files its tokenizer class reads), not in the run's load phase;
   - shape mode: the config (from the candidate) and the real tokenizer's files (a few MB); no tokenizer
     reachable is a warning, not an error: the run trains a stand-in BPE on the data and records it.
   What was downloaded is passed to the runs through their environment, so each result records it.
4. Capability (`capability`): what the run's GPU (or the emulated one) and packages cannot do; in the child,
   where it is an `unsupported` result, not an error (the parent keeps going with the other runs).

Anything missing in the parent raises `PreflightError`: one line per problem, exit code 2, before any
results folder or child exists. Like the rest of the sweep parent, this module never imports torch.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from harness import data, weights
from harness.child_env import sampler_interval_from_env
from harness.config import (
    CANDIDATES_FILE,
    CandidateFile,
    DataSettings,
    RunRequest,
    SweepSpec,
    expand_sweep,
    load_candidates,
)
from harness.errors import UserError
from harness.model_spec import Resolved, load_candidate_list, resolve_model


class PreflightError(UserError):
    """Several one-line problems (one per model); the CLI prints each on its own line."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = [" ".join(line.split()) for line in lines]


@dataclass
class Resolution:
    candidates: CandidateFile  # the candidates file plus the models built from their own files
    names: list[str]  # the sweep's candidates, as names in `candidates`
    built: list[Resolved] = field(default_factory=list)  # models built from their files (for the user)
    problems: list[str] = field(default_factory=list)  # one line per model that cannot be had
    access: dict[str, str] = field(default_factory=dict)  # hub id -> how its files were had
    refs: dict[str, str] = field(default_factory=dict)  # each model as given (name, hub id, folder) -> its name


def resolve_candidates(
    refs: Iterable[str], candidates: CandidateFile, weights_mode: str, trust_remote_code: bool = False
) -> Resolution:
    """Each ref (name, hub id, folder) as a candidate; problems are collected, one line per model."""
    cf = CandidateFile.model_validate({"candidates": [c.model_dump() for c in candidates.candidates]})
    out = Resolution(candidates=cf, names=[])
    for ref in dict.fromkeys(refs):
        try:
            got = resolve_model(ref, cf, weights_mode, trust_remote_code)
        except UserError as e:
            out.problems.append(str(e))
            continue
        if got.ad_hoc:
            cf.candidates.append(got.candidate)
            out.built.append(got)
            if got.access:
                out.access[got.candidate.hub_id] = got.access
        out.names.append(got.candidate.name)
        out.refs[ref] = got.candidate.name
    return out


def _label(request: RunRequest) -> str:
    return f"candidate '{request.candidate.name}'"


def check_weights(requests: Iterable[RunRequest], access: dict[str, str] | None = None) -> list[str]:
    """Find or fetch every run's weights (real) or tokenizer (shape). Returns warning lines; raises
    PreflightError with one line per model that cannot be had."""
    access = dict(access or {})
    problems: dict[str, str] = {}
    warnings: list[str] = []
    seen: set[tuple[str, str, str | None]] = set()
    for r in requests:
        cand = r.candidate
        key = (cand.hub_id if cand.weights == "hub" else cand.name, r.weights, r.weights_path)
        if key in seen:
            continue
        seen.add(key)
        label = _label(r)
        if r.weights == "shape":
            got = weights.fetch_shape_files(cand.hub_id, label, need_config=False)
            if got.path is not None and weights.has_tokenizer(got.path):
                if got.access:
                    access.setdefault(cand.hub_id, got.access)
                continue
            why = got.problem or f"{cand.hub_id} has no tokenizer files"
            warnings.append(
                f"{label}: no real tokenizer reachable ({why}); shape mode trains a stand-in BPE on the data "
                f"file, so its sequence lengths are not the model's (recorded in the results)"
            )
            continue
        if r.weights_path:
            p = Path(r.weights_path).expanduser()
            if not (p / "config.json").is_file():
                problems.setdefault(cand.name, f"--weights-path {p}: no config.json there; point it at a folder "
                                               f"saved with save_pretrained")  # fmt: skip
            elif not weights.has_tokenizer(p):  # the run loads its tokenizer from there too
                problems.setdefault(cand.name, f"--weights-path {p}: no tokenizer files there (none of "
                                               f"{', '.join(weights.TOKENIZER_MARKERS)}); save the tokenizer "
                                               f"there (tokenizer.save_pretrained)")  # fmt: skip
            continue
        if cand.weights == "gguf-package":
            try:
                weights.find_gguf(cand)
            except UserError as e:
                problems.setdefault(cand.name, str(e))
            continue
        got = weights.fetch_model(cand.hub_id, label)
        if got.path is None:
            problems.setdefault(cand.name, got.problem or f"{label}: weights of {cand.hub_id} not found")
        elif got.access:
            access.setdefault(cand.hub_id, got.access)
    if problems:
        raise PreflightError(list(problems.values()))
    weights.record_preflight_access({k: v for k, v in access.items() if v == "downloaded"})
    return warnings


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class RunData:
    loaded: data.Loaded  # the examples, where they came from, the data id (and a hub data set's commit)
    splits: data.Splits  # the rows the run trains on, answers and scores, answers for grading
    template: str  # the prompt template, checked against those rows


def data_splits(d: DataSettings, loaded: data.Loaded | None = None, template: str | None = None) -> data.Splits:
    """The rows a run uses, checked: its data loaded (unless given), the rows asked for selected, and the
    prompt template (when given) checked against them. One-line UserErrors."""
    loaded = loaded if loaded is not None else data.load_data(d)
    splits = data.select_rows(loaded.examples, d.train_rows, d.eval_rows, d.grade_rows, loaded.where)
    if template is not None:
        data.validate_template(template, splits.train + splits.eval + splits.grade)
    return splits


def run_data(request: RunRequest) -> RunData:
    """One run's data, as the child uses it (the parent checked the same before the sweep)."""
    loaded = data.load_data(request.data)  # a file, or a hub data set at the commit the parent pinned
    template = request.data.prompt_template or request.candidate.prompt_template
    return RunData(loaded, data_splits(request.data, loaded, template), template)


def check_data(spec: SweepSpec) -> None:
    """The data file, its format and the rows asked for: before any model is fetched."""
    raw = spec.base.get("data")
    try:
        d = DataSettings.model_validate(raw if isinstance(raw, dict) else {})
    except ValidationError:
        return  # expand_sweep names the field
    data_splits(d)  # a hub data set is fetched here, before any model


def _check_request_data(requests: list[RunRequest]) -> None:
    """Every request's data: a path the child can reach, a hub data set's commit pinned (it is in the key), the
    rows and the prompt template checked once per data source and template."""
    checked: set[tuple[str, str, str, str]] = set()
    loads: dict[tuple[str, str, str, str], data.Loaded] = {}
    for r in requests:
        r.data.path = data.stored_data_path(r.data.path)  # the child starts elsewhere: keep a path it can reach
        source = (r.data.path, r.data.format, str(r.data.columns), str(r.data.revision))
        if source not in loads:
            loads[source] = data.load_data(r.data)
        loaded = loads[source]
        r.data.revision = loaded.revision  # a hub data set's commit: every run loads it, and it is in the key
        template = r.data.prompt_template or r.candidate.prompt_template
        key = (r.data.path, r.data.format, str(r.data.columns), template)
        if key in checked:
            continue
        checked.add(key)
        data_splits(r.data, loaded, template)


# ---------------------------------------------------------------- the whole preflight, in the parent


def candidate_file(
    given: str | None, weights_mode: str, trust_remote_code: bool = False
) -> tuple[CandidateFile, list[str], list[str]]:
    """candidates.yaml, or the team's own list (--candidates FILE); (file, notes, problem lines)."""
    if not given:
        return load_candidates(CANDIDATES_FILE), [], []
    path = Path(given).expanduser()
    if not path.is_file():
        raise UserError(f"--candidates {given}: file not found (relative paths start at the current directory)")
    cf, built, problems = load_candidate_list(path, weights_mode, trust_remote_code)
    return cf, [b.note for b in built], problems


def preflight(
    spec: SweepSpec,
    source: str,
    typed: dict[str, str] | None = None,
    candidates: str | None = None,
    trust_remote_code: bool = False,
    keep: Callable[[RunRequest, Mapping[str, str]], bool] | None = None,
) -> list[RunRequest]:
    """Everything before the first run, in the parent: data, models (names, hub ids, folders), requests,
    trust_remote_code, then every run's weights (fetched now) or tokenizer. Nothing is written before it passes.
    `typed`: the flags as the user typed them (for errors that name them); `candidates`: --candidates FILE;
    `keep(request, refs)`: only the requests it keeps (bench --cells), `refs` each model as given -> its name."""
    sampler_interval_from_env()  # a bad $HARNESS_SAMPLER_MS: one line now, not a failed row per run
    check_data(spec)
    mode = str(spec.base.get("weights", spec.weights))
    cands, notes, problems = candidate_file(candidates, mode, trust_remote_code)
    found = resolve_candidates(spec.axes.candidates, cands, mode, trust_remote_code)
    problems += found.problems
    notes += [b.note for b in found.built]
    requests: list[RunRequest] = []
    if found.names:
        spec = spec.model_copy(update={"axes": spec.axes.model_copy(update={"candidates": found.names})})
        requests = expand_sweep(spec, found.candidates, source, typed=typed or {})
        if keep is not None:
            requests = [r for r in requests if keep(r, found.refs)]
    for r in requests:
        if r.candidate.trust_remote_code and not r.trust_remote_code:
            raise UserError(
                f"candidate '{r.candidate.name}' runs code from its repository: pass --trust-remote-code "
                f"if you trust {r.candidate.hub_id}"
            )
    _check_request_data(requests)
    try:
        warnings = check_weights(requests, found.access)
    except PreflightError as e:
        problems += e.lines
        warnings = []
    if problems:
        raise PreflightError(list(dict.fromkeys(problems)))  # a list entry and its axis name: one line
    for line in notes:
        print(f"note: {line}", file=sys.stderr, flush=True)
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr, flush=True)
    return requests


# ---------------------------------------------------------------- capability, in the child


def capability(request: RunRequest, gpu_index: int = 0) -> str | None:
    """Why `request` cannot run on this machine (one line: the run is `unsupported`), or None when it can:
    the GPU at hand (or the emulated one), its dtype, the backend's and bitsandbytes' needs."""
    from harness.backends.capability import check, gpu_capability

    gpu = gpu_capability(gpu_index) if request.device != "cpu" else None
    return check(request, gpu)
