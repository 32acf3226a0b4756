"""Before the first run starts: every model named, and every run's weights, found or fetched, in the parent.

1. `resolve_candidates`: the names the sweep lists (candidate names, hub ids, model folders) become
   candidates (`harness.model_spec`); a model that cannot be had is one line.
2. `check_weights`: for every distinct model of the runs,
   - real weights: `--weights-path`, the GGUF package, a local folder, or the hub: the Hugging Face cache
     first, then a download (progress bars, resumable); cache only when the user set HF_HUB_OFFLINE=1;
     a folder without tokenizer files is refused here (a model folder's probe in `harness.model_spec`
     asks transformers, and names the files its tokenizer class reads), not in the run's load phase;
   - shape mode: the config (from the candidate) and the real tokenizer's files (a few MB); no tokenizer
     reachable is a warning, not an error: the run trains a stand-in BPE on the data and records it.
   What was downloaded is passed to the runs through their environment, so each result records it.

Anything missing raises `PreflightError`: one line per model, exit code 2, before any results folder
or child exists. Like the rest of the sweep parent, this module never imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness import weights
from harness.config import CandidateFile, RunRequest
from harness.errors import UserError
from harness.model_spec import Resolved, resolve_model


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
