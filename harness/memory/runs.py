"""Measured runs as the memory model sees them: settings that move the peaks, and the peaks themselves.

Result files are read with plain `json` (not harness.result), so this keeps working while the
result schema grows. A run's token counts are not stored in it: they are recomputed here from the
run's data file and tokenizer, exactly as trl tokenises (prompt + completion, truncated to
max_length) and as generation pads (each batch to its longest prompt).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.backends import PLAIN
from harness.errors import UserError
from harness.labels import run_label
from harness.memory.model import Settings

STAND_IN = "byte-level BPE trained on the data file (sha256 "
TRAIN_PHASE = "train"
GENERATE_PHASES = ("generate_tuned", "generate_base")


@dataclass(frozen=True)
class Measured:
    allocated_mib: float
    reserved_mib: float | None
    nvml_process_mib: float | None


@dataclass(frozen=True)
class Observation:
    path: str
    key: str
    candidate: str
    family: str
    config: dict[str, Any]  # config.json fields with model_type
    settings: Settings
    gpu: str
    phases: dict[str, Measured]  # "train", "generate"
    allocator_warm: bool  # the process built the shape-mode weights on the GPU first: its cache held their blocks
    tokens_note: str

    @property
    def label(self) -> str:
        return run_label(self.candidate, self.settings.rank)


def _measured(stats: dict[str, Any] | None) -> Measured | None:
    if not stats or stats.get("torch_max_allocated_mib") is None:
        return None
    return Measured(
        stats["torch_max_allocated_mib"], stats.get("torch_max_reserved_mib"), stats.get("nvml_process_peak_mib")
    )


def _tokenizer(run: dict[str, Any], data_path: Path, data_sha: str) -> Any:
    from transformers import AutoTokenizer

    desc = (run.get("weights") or {}).get("tokenizer") or ""
    if desc.startswith(STAND_IN):
        want = desc[len(STAND_IN) :].split(")")[0]
        if not data_sha.startswith(want):
            raise UserError(f"{data_path}: sha256 {data_sha[:12]} is not the {want} the run's tokenizer was trained on")
        from harness.data import load_examples
        from harness.weights import trained_tokenizer

        examples = load_examples(data_path, run["request"]["data"].get("format", "auto"))
        size = int(desc.rsplit("vocab", 1)[1].strip())
        folder, _ = trained_tokenizer([e.question + " " + (e.answer or "") for e in examples], data_sha, size)
        return AutoTokenizer.from_pretrained(str(folder))
    path = (run.get("weights") or {}).get("path")
    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception:
        raise UserError(f"run {run.get('label')}: its tokenizer ({desc or path}) is not on this machine") from None


def token_lengths(run: dict[str, Any]) -> tuple[int, int, int, str]:
    """(longest training sequence, longest prompt, prompts answered at once, how it was found)."""
    from harness import data

    req = run["request"]
    d = req["data"]
    path = data.resolve_data_path(d["path"])
    if not path.is_file():
        raise UserError(f"run {run.get('label')}: data file {d['path']} not found (looked at {path})")
    sha = data.file_sha256(path)
    tok = _tokenizer(run, path, sha)
    examples = data.load_examples(path, d.get("format", "auto"))
    splits = data.select_rows(examples, d["train_rows"], d["eval_rows"], d.get("grade_rows", 0), str(path))
    template = d.get("prompt_template") or req["candidate"]["prompt_template"]
    eos = tok.eos_token if d.get("append_eos", True) else None
    max_len = int(req["train"]["max_length"])
    train = [
        len(tok(data.render_prompt(template, e) + data.render_completion(e, eos))["input_ids"]) for e in splits.train
    ]
    prompts = [len(tok(data.render_prompt(template, e))["input_ids"]) for e in splits.eval + splits.grade]
    gen_rows = min(int(req["generation"]["batch_size"]), len(prompts))
    note = (f"longest of {len(train)} training rows {max(train)} tokens (max_length {max_len}); "
            f"longest of {len(prompts)} prompts {max(prompts)} tokens; {path.name}, tokenizer: "
            f"{(run.get('weights') or {}).get('tokenizer')}")  # fmt: skip
    return min(max(train), max_len), max(prompts), gen_rows, note


def config_from_run(run: dict[str, Any]) -> dict[str, Any]:
    """The model's config.json fields (with model_type) from a result's request."""
    cand = run["request"]["candidate"]
    return {"model_type": cand["model_type"], **cand["shape_config"]}


def settings_from_run(run: dict[str, Any], seq_len: int | None = None, prompt_len: int | None = None) -> Settings:
    """A result's settings as the memory model takes them. Token lengths are not in a result: give them
    (token_lengths(run) recomputes them), else max_length and 64 prompt tokens are assumed (worst case)."""
    req = run["request"]
    eff = run.get("effective") or {}
    gens = [g for g in run.get("generation") or [] if g.get("stage") == "tuned"] or run.get("generation") or [{}]
    gen = req.get("generation") or {}
    return Settings(
        rank=int(req["lora"]["rank"]),
        batch=int(eff.get("per_device_batch") or req["train"]["batch_size"]),
        seq_len=int(seq_len or req["train"]["max_length"]),
        dtype=str(eff.get("dtype") or "bf16"),
        quant=req.get("quant", "none"),
        backend=req.get("backend", PLAIN),
        gradient_checkpointing=eff.get("gradient_checkpointing") or False,
        lora_dropout=float(req["lora"]["dropout"]),
        optimizer=str(eff.get("optimizer") or req["train"]["optimizer"]),
        targets=tuple(req["lora"].get("target_modules") or req["candidate"]["lora_target_modules"]),
        gen_batch=int(gens[0].get("prompts") or gen.get("batch_size") or 25),
        prompt_len=int(prompt_len or 64),
        new_tokens=int(gens[0].get("max_new_tokens") or gen.get("max_new_tokens") or 80),
    )


def measured_peak(
    run: dict[str, Any], phases: tuple[str, ...] = ("train", *GENERATE_PHASES)
) -> dict[tuple[str, str], float]:
    """{(GPU name, dtype): the run's largest NVML process peak over `phases`} for fit_table's `measured`."""
    env = run.get("environment") or {}
    peaks = [(run.get("phases") or {}).get(p) or {} for p in phases]
    vals = [p["nvml_process_peak_mib"] for p in peaks if p.get("nvml_process_peak_mib") is not None]
    if not vals or not env.get("gpu_name"):
        return {}
    return {(str(env["gpu_name"]), str((run.get("effective") or {}).get("dtype") or "bf16")): max(vals)}


def observation(path: Path) -> Observation | None:
    """An `ok` run with train and generate peaks as an Observation; None for anything else."""
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UserError(f"{path}: unreadable result file") from None
    phases = run.get("phases") or {}
    train = _measured(phases.get(TRAIN_PHASE))
    gen = next((m for m in (_measured(phases.get(p)) for p in GENERATE_PHASES) if m is not None), None)
    env = run.get("environment") or {}
    if run.get("status") != "ok" or train is None or gen is None or env.get("device") != "cuda":
        return None
    longest, prompt, gen_rows, note = token_lengths(run)
    settings = settings_from_run(run, seq_len=longest, prompt_len=prompt).with_(gen_batch=gen_rows)
    cand = run["request"]["candidate"]
    return Observation(
        path=str(path),
        key=str(run.get("key", ""))[:12],
        candidate=cand["name"],
        family=cand.get("family") or cand["model_type"],
        config=config_from_run(run),
        settings=settings,
        gpu=str(env.get("gpu_name")),
        phases={"train": train, "generate": gen},
        allocator_warm="shape_build_s" in (run.get("one_time") or {}),
        tokens_note=note,
    )


def load(folders: list[Path]) -> list[Observation]:
    """Observations from the `runs/` of each folder; a run measured twice (same candidate, settings, GPU
    and figures, e.g. copied into two reports) counts once."""
    out: list[Observation] = []
    seen: set[tuple[Any, ...]] = set()
    for folder in folders:
        for path in sorted((folder / "runs").glob("*.json")):
            obs = observation(path)
            if obs is None:
                continue
            ident = (obs.candidate, obs.settings, obs.gpu, obs.phases["train"], obs.phases["generate"])
            if ident in seen:
                continue
            seen.add(ident)
            out.append(obs)
    return out
