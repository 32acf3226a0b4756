"""Realistic fake results folders for the report tests (harness.report only).

    folder = make_results_folder(tmp_path / "sweep", scenario="mixed")

Scenarios:
  mixed   three real candidates x ranks 16/32/64 (hf, none), an injected oom at polyglot r64, an
          unsupported Unsloth run, an hf/unsloth/liger nf4 set for gemma r32, a mismatch run, a shape-mode
          candidate, human grades; team's published T4 figures on gemma.
  real    the three real candidates only, all ok (quality is meaningful: it enters the ranking).
  shape   every run in shape mode (random weights).
  cpu     a CPU-only sweep: GPU fields null, host RSS only.
  failed  every run failed (oom, crashed, timeout, unsupported): zero ok runs.
  one     one candidate (CPU) at ranks 16/32/64: the report chooses among its configurations.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path
from typing import Any

from harness.config import RunRequest
from harness.keys import key_of
from harness.result import (
    Answer,
    Effective,
    Environment,
    Generation,
    KeyInputs,
    PhaseStats,
    RunResult,
    StepTimes,
    Weights,
)

XSS = "<script>alert(1)</script>"
H100 = "NVIDIA H100 80GB HBM3"
PROMPTS = [
    ("q1", "오늘 기분 어때?", "나 오늘 완전 좋아! 너랑 얘기하니까 더 좋다", "좋아"),
    ("q2", "주말에 뭐 했어?", "주말엔 친구들이랑 한강 가서 라면 먹었어", "한강"),
    ("q3", "좋아하는 음식은?", "나는 떡볶이가 제일 좋아, 매운 거 최고야", "떡볶이"),
    ("q4", "취미가 뭐야?", "요즘은 사진 찍는 게 취미야", "사진"),
    ("q5", "고양이 좋아해?", "응! 고양이 너무 귀여워서 키우고 싶어", "고양이"),
    ("q6", "어디 살아?", "서울 살아, 연남동 근처야", "서울"),
]


def candidate(
    name: str,
    params_b: float,
    ko_llm_avg: float | None,
    family: str = "gemma2",
    published: dict[str, Any] | None = None,
    hidden: int = 2048,
) -> dict[str, Any]:
    """A candidate as RunRequest.candidate holds it (a plain dict: names are not validated here)."""
    return {
        "name": name,
        "hub_id": f"example/{name}",
        "params_b": params_b,
        "params_note": None,
        "ko_llm_avg": ko_llm_avg,
        "license": "apache-2.0",
        "family": family,
        "model_type": family,
        "shape_config": {"hidden_size": hidden, "num_hidden_layers": 24},
        "lora_target_modules": ["q_proj", "v_proj"],
        "prompt_template": "### 질문: {question} ### 답변:",
        "trust_remote_code": False,
        "unsloth_native": family in ("gemma2", "llama", "qwen2"),
        "weights": "hub",
        "gguf": None,
        "published": published,
    }


GEMMA = candidate(
    "gemma-2-2b-it",
    2.61,
    40.4,
    "gemma2",
    published={
        "gpu": "Tesla T4",
        "finetune_s": {16: 312.0, 32: 318.0, 64: 335.0},
        "finetune_mb": {16: 5350.0, 32: 5420.0, 64: 5560.0},
        "inference_s": 4.1,
        "inference_mb": 5300.0,
    },
)
QWEN = candidate("qwen2.5-1.5b-instruct", 1.54, 35.9, "qwen2", hidden=1536)
POLY = candidate("polyglot-ko-1.3b", 1.43, 31.2, "gpt_neox")
SMOL = candidate("smollm2-135m", 0.135, None, "llama", hidden=576)


def request(
    cand: dict[str, Any],
    rank: int,
    backend: str = "hf",
    quant: str = "none",
    weights: str = "real",
    device: str = "auto",
    repeat: int = 0,
) -> dict[str, Any]:
    return {
        "candidate": cand,
        "weights": weights,
        "weights_path": None,
        "backend": backend,
        "quant": quant,
        "device": device,
        "lora": {
            "rank": rank,
            "alpha": rank,
            "dropout": 0.05,
            "target_modules": None,
            "init_lora_weights": True,
            "bias": "none",
        },
        "data": {
            "path": "data/sample_qa.csv",
            "format": "auto",
            "train_rows": 20,
            "eval_rows": 6,
            "grade_rows": 0,
            "append_eos": True,
            "prompt_template": None,
        },
        "train": {
            "epochs": 10,
            "max_steps": None,
            "batch_size": 4,
            "grad_accum": 1,
            "learning_rate": 2e-4,
            "max_length": 256,
            "burn_in_steps": 5,
            "seed": 42,
            "gradient_checkpointing": False,
            "dtype": "auto",
        },
        "generation": {
            "max_new_tokens": 80,
            "force_new_tokens": False,
            "batch_size": 1,
            "latency_prompts": 3,
            "base_answers": True,
            "merge_adapter": False,
        },
        "unsloth": {"compile": "default"},
        "trust_remote_code": False,
        "repeat": repeat,
    }


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def environment(device: str = "cuda", gpu: str | None = H100) -> Environment:
    cuda = device == "cuda"
    return Environment(
        host="bench-host-1",
        platform="Linux-6.8.0-x86_64-with-glibc2.36",
        python="3.11.2",
        packages={
            "torch": "2.13.0+cu128" if cuda else "2.13.0+cpu",
            "transformers": "5.17.0",
            "peft": "0.21.0",
            "trl": "1.14.2",
            "accelerate": "1.15.0",
            "datasets": "4.8.3",
            "bitsandbytes": "0.50.2" if cuda else None,
            "unsloth": "2026.10.9" if cuda else None,
        },
        git_sha="0123456789abcdef0123456789abcdef01234567",
        git_dirty=False,
        command=["python", "-m", "harness.child.run", "--request", "req.json"],
        device="cuda" if cuda else "cpu",
        gpu_name=gpu if cuda else None,
        gpu_index=0 if cuda else None,
        gpu_uuid="GPU-00000000-1111-2222-3333-444444444444" if cuda else None,
        compute_capability="9.0" if cuda else None,
        gpu_total_mib=81559.0 if cuda else None,
        driver="580.82.07" if cuda else None,
        cuda="12.8" if cuda else None,
        cpu_count=16 if cuda else 2,
    )


def _phase(wall: float, mem: float | None, device: str, rng: random.Random, power_w: float = 310.0) -> PhaseStats:
    if device == "cpu":
        return PhaseStats(wall_s=wall, host_rss_peak_mib=(mem or 1000) + rng.uniform(0, 50), samples=int(wall * 10))
    return PhaseStats(
        wall_s=wall,
        nvml_device_used_peak_mib=None if mem is None else mem + 620,
        nvml_process_peak_mib=mem,
        torch_max_allocated_mib=None if mem is None else mem - 900,
        torch_max_reserved_mib=None if mem is None else mem - 520,
        host_rss_peak_mib=3100 + rng.uniform(0, 200),
        energy_j=wall * power_w,
        samples=int(wall * 10),
    )


def _answers(quality: float, stage: str, rng: random.Random, answer_override: str | None = None) -> list[Answer]:
    out = []
    for i, (aid, prompt, ref, key) in enumerate(PROMPTS):
        good = rng.random() < quality
        text = ref if good else f"음... {prompt} 그건 잘 모르겠어 {key if rng.random() < 0.5 else ''}".strip()
        if answer_override is not None and i == 0:
            text = answer_override
        chrf = max(0.0, min(100.0, 100 * quality + rng.uniform(-12, 12)))
        out.append(
            Answer(
                id=aid,
                stage=stage,  # type: ignore[arg-type]
                prompt=prompt,
                reference=ref,
                answer=text,
                new_tokens=18 + i,
                hit_eos=True,
                seconds=0.8,
                scores={
                    "chrf": chrf,
                    "contains": 1.0 if key in text else 0.0,
                    "hangul_ratio": 0.95,
                    "empty": 0.0,
                    "repetition": 0.02,
                    "distinct2": 0.9,
                    "truncated": 0.0,
                },
            )
        )
    return out


def _ci(values: list[float]) -> dict[str, Any]:
    n = len(values)
    mean = sum(values) / n
    sd = (sum((v - mean) ** 2 for v in values) / max(n - 1, 1)) ** 0.5
    half = 1.96 * sd / n**0.5
    return {"mean": mean, "lo": mean - half, "hi": mean + half, "n": n}


def _quality(answers: list[Answer], meaningful: bool) -> dict[str, Any]:
    """RunResult.quality as the run child writes it: stage summaries of the stored metrics (no composite)."""
    q: dict[str, Any] = {"meaningful": meaningful}
    for stage in ("base", "tuned"):
        st = [a for a in answers if a.stage == stage]
        q[stage] = {
            m: _ci([a.scores[m] for a in st]) for m in ("chrf", "contains", "hangul_ratio", "repetition", "truncated")
        }
        q[stage]["bits_per_char"] = _ci([1.9 - 0.01 * a.scores["chrf"] for a in st])
    return q


def make_run(
    cand: dict[str, Any],
    rank: int,
    *,
    backend: str = "hf",
    quant: str = "none",
    weights: str = "real",
    status: str = "ok",
    reason: str | None = None,
    device: str = "cuda",
    gpu: str | None = H100,
    train_s: float | None = None,
    mem_mib: float | None = None,
    eval_mem_mib: float | None = None,
    quality: float = 0.5,
    answer_override: str | None = None,
    stderr_tail: str | None = None,
    mismatches: list[str] | None = None,
    seed: int = 0,
    repeat: int = 0,
    steady: list[float] | None = None,
    burn: list[float] | None = None,
    setup_s: tuple[float, float] = (0.6, 1.8),
    outside_s: float = 0.5,
    one_time: dict[str, float] | None = None,
    shapes: list[str] | None = None,
    env: dict[str, Any] | None = None,
    load_s: float | None = None,
) -> RunResult:
    """One run with figures that scale with the candidate's size and the rank (or the given ones).

    `seed` changes only the noise (step times, answers); `steady`/`burn` give the step times exactly;
    `setup_s` is the (lora, train_setup) phases; `outside_s` the train phase's time outside the steps;
    `shapes` each step's token shape (None: not recorded, as in older files); `env` fields of the environment;
    `load_s` the load phase (default: by the candidate's size)."""
    rng = random.Random(_key(cand["name"], rank, backend, quant, weights, status, seed, repeat))
    p = cand["params_b"]
    uns = backend != "hf"
    nf4 = quant == "nf4"
    weights_mib = p * 1024 * (0.7 if nf4 else 2.0) + 600
    mem = mem_mib if mem_mib is not None else weights_mib + 2200 * p + 18 * rank
    if uns and mem_mib is None:
        mem *= 0.62
    step = (train_s / 50 if train_s else 0.9 * p + 0.004 * rank) * (0.55 if uns else 1.0) * (1.3 if nf4 else 1.0)
    cpu = device == "cpu"
    if burn is None:
        burn = [step * f for f in ((9.0, 3.0, 1.6, 1.2, 1.1) if not uns else (40.0, 6.0, 2.0, 1.2, 1.1))]
        burn = [b * 25 for b in burn] if cpu else burn
    if steady is None:
        steady = [step * rng.uniform(0.92, 1.12) * (25 if cpu else 1) for _ in range(45)]
    times = list(burn) + list(steady)
    sorted_steady = sorted(steady)
    phases: dict[str, PhaseStats] = {}
    gen_s = (0.55 + 0.9 * p) * (12 if cpu else 1)
    gpu_mem = None if cpu else mem
    eval_mem = None if cpu else (eval_mem_mib if eval_mem_mib is not None else weights_mib + 200)
    phases["load"] = _phase(8 + 6 * p if load_s is None else load_s, None if cpu else weights_mib, device, rng)
    phases["generate_base"] = _phase(gen_s * len(PROMPTS), None if cpu else weights_mib + 300, device, rng)
    phases["eval_base"] = _phase(1.5, eval_mem, device, rng)
    phases["lora"] = _phase(setup_s[0], None if cpu else weights_mib + 50, device, rng)
    phases["train_setup"] = _phase(setup_s[1], None if cpu else weights_mib + 60, device, rng)
    phases["train"] = _phase(sum(times) + outside_s, gpu_mem if not cpu else weights_mib + 1500 + 6 * rank, device, rng)
    phases["generate_tuned"] = _phase(gen_s * len(PROMPTS) * 1.05, None if cpu else weights_mib + 350, device, rng)
    phases["eval_tuned"] = _phase(1.6, eval_mem, device, rng)
    phases["score"] = _phase(0.4, None, device, rng)
    steps = StepTimes(
        times_s=times,
        burn_in_steps=len(burn),
        burn_in_s=sum(burn),
        steady_mean_s=sum(steady) / len(steady),
        steady_p50_s=sorted_steady[len(steady) // 2],
        steady_p90_s=sorted_steady[int(len(steady) * 0.9)],
        steady_p99_s=sorted_steady[-1],
        shapes=shapes,
    )
    shape = weights == "shape"
    answers = _answers(0.2, "base", rng) + _answers(quality, "tuned", rng, answer_override)
    if shape:  # random weights: gibberish
        answers = [a.model_copy(update={"answer": "찼녕ㅋ 웹 뷁 qz 똠 " * 3}) for a in answers]
    gens = [
        Generation(
            stage=s,
            batch_size=1,
            max_new_tokens=80,
            forced_new_tokens=False,
            merged_adapter=False,
            prompts=len(PROMPTS),
            new_tokens=130,
            wall_s=phases[f"generate_{s}"].wall_s,
            s_per_answer=phases[f"generate_{s}"].wall_s / len(PROMPTS),
            tokens_per_s=130 / phases[f"generate_{s}"].wall_s,
            latency_s_per_answer=0.9 * p,
            latency_prompts=3,
        )
        for s in ("base", "tuned")
    ]
    req = request(cand, rank, backend, quant, weights, "cpu" if cpu else "auto", repeat)
    # the key as the sweep takes it (keys.key_of), so that the report's re-hash check passes; the fixture's
    # data hash stands for the noise seed and the device, which tell otherwise equal runs apart
    inputs = KeyInputs(
        data_sha256=_key("fixture-data", device, seed), packages={"harness-measurement": "fixture"}, gpu=gpu
    )
    res = RunResult(
        key=key_of(RunRequest.model_validate(req), inputs),
        key_inputs=inputs,
        label=f"{cand['name']} r{rank} {backend} {quant} {weights}" + (f" #{repeat + 1}" if repeat else ""),
        status=status,  # type: ignore[arg-type]
        reason=reason,
        request=req,  # type: ignore[arg-type]
        started_at="2026-11-20T10:00:00+00:00",
        finished_at="2026-11-20T10:20:00+00:00",
        wall_s=sum(ph.wall_s for ph in phases.values()) + 5,
        weights=Weights(
            mode=weights,
            source=f"hub:example/{cand['name']}" if not shape else "shape:abc123",
            tokenizer="hub",
            params=int(p * 1e9),
        ),  # type: ignore[arg-type]
        one_time=one_time
        if one_time is not None
        else ({"weights_conversion_s": 12.5} if not shape else {"shape_build_s": 3.1}),
        baseline=PhaseStats(wall_s=1.0, nvml_device_used_peak_mib=None if cpu else 610.0, host_rss_peak_mib=900.0),
        phases=phases,
        steps=steps,
        loss_curve=[(i, 3.0 - 0.05 * i + rng.uniform(-0.02, 0.02)) for i in range(1, 51, 5)],
        effective=Effective(
            global_steps=len(times),
            per_device_batch=4,
            grad_accum=1,
            effective_batch=4,
            epochs=10.0,
            gradient_checkpointing=False,
            dtype="fp32" if cpu else "bf16",
            optimizer="adamw_torch",
            lr_scheduler="linear",
            learning_rate=2e-4,
            max_length=256,
            padding="longest",
            lora_rank=rank,
            lora_alpha=rank,
            lora_dropout=0.05,
            lora_targets=["q_proj", "v_proj"],
            trainable_params=rank * 180_000,
            total_params=int(p * 1e9),
            unsloth_path="native" if backend == "unsloth" else None,
            mismatches=mismatches or [],
        ),
        generation=gens,
        answers=answers,
        quality=_quality(answers, meaningful=not shape),  # type: ignore[arg-type]
        environment=environment(device, gpu).model_copy(update=env or {}),
        stderr_tail=stderr_tail,
    )
    if status in ("oom", "crashed", "timeout", "unsupported", "cancelled", "failed"):
        keep = {"oom": ("load", "generate_base", "eval_base", "lora", "train_setup", "train"), "unsupported": ()}
        kept = keep.get(status, ("load",))
        upd: dict[str, Any] = {
            "phases": {k: v for k, v in phases.items() if k in kept},
            "generation": [g for g in gens if g.stage == "base"] if "generate_base" in kept else [],
            "answers": [a for a in answers if a.stage == "base"] if "generate_base" in kept else [],
            "quality": {"meaningful": not shape},
            "steps": None if status != "oom" else StepTimes(times_s=times[:7], burn_in_steps=5, burn_in_s=sum(burn)),
        }
        if status == "oom":
            upd["phases"]["train"] = _phase(sum(times[:7]), 79800.0, device, rng)
        res = RunResult.model_validate({**res.to_dict(), **{k: _dump(v) for k, v in upd.items()}})
    return res


def _dump(v: Any) -> Any:
    if hasattr(v, "model_dump"):
        return v.model_dump(mode="json")
    if isinstance(v, dict):
        return {k: _dump(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_dump(x) for x in v]
    return v


def file_stem(r: RunResult) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", r.request.candidate.name).strip("._") or "run"
    return f"{name}-r{r.request.lora.rank}-{r.request.backend}-{r.request.quant}-{r.key[:12]}"


def write_results(
    folder: Path,
    runs: list[RunResult],
    *,
    name: str = "fixture-sweep",
    ranking: dict[str, float] | None = None,
    grades: dict[str, Any] | None = None,
    weights: str = "real",
    spec_extra: dict[str, Any] | None = None,
    command: list[str] | None = None,
) -> Path:
    folder = Path(folder)
    (folder / "runs").mkdir(parents=True, exist_ok=True)
    for r in runs:
        r.write(folder / "runs" / f"{file_stem(r)}.json")
    spec: dict[str, Any] = {
        "name": name,
        "description": "fixture sweep for the report tests",
        "axes": {
            "candidates": sorted({r.request.candidate.name for r in runs}),
            "ranks": sorted({r.request.lora.rank for r in runs}),
            "backends": ["hf"],
            "quants": ["none"],
        },
        "weights": weights,
        "base": {},
        "timeout_s": 3600,
        "prices": "benchmarks/gpu-prices.yaml",
        **(spec_extra or {}),
    }
    if ranking is not None:
        spec["ranking"] = ranking
    manifest = {  # the layout harness.sweep writes (harness/sweep/layout.py)
        "manifest_version": 1,
        "name": name,
        "spec": spec,
        "command": command or ["harness", "sweep", "benchmarks/fixture.yaml", "--gpus", "0"],
        "runs": [{"key": r.key, "stem": file_stem(r), "label": r.label} for r in runs],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    if grades is not None:
        (folder / "grades.json").write_text(json.dumps(grades, ensure_ascii=False), encoding="utf-8")
    return folder


def real_runs(ranks: tuple[int, ...] = (16, 32, 64)) -> list[RunResult]:
    return [make_run(c, r, quality=q) for c, q in ((GEMMA, 0.7), (QWEN, 0.55), (POLY, 0.4)) for r in ranks]


def mixed_runs(xss: bool = False) -> list[RunResult]:
    runs = [r for r in real_runs() if not (r.request.candidate.name == POLY["name"] and r.request.lora.rank == 64)]
    runs.append(
        make_run(
            POLY,
            64,
            status="oom",
            reason="out of memory in phase train: CUDA out of memory. Tried to allocate 20.00 MiB (injected at step:3)",
            stderr_tail='Traceback (most recent call last):\n  File "harness/child/train.py", line 210\ntorch.OutOfMemoryError: CUDA out of memory. <oom & friends>',
        )
    )
    runs.append(
        make_run(
            POLY,
            16,
            backend="unsloth",
            quant="nf4",
            status="unsupported",
            reason="Unsloth has no patch for gpt_neox (polyglot-ko-1.3b); use backend hf",
        )
    )
    runs.append(make_run(GEMMA, 32, quant="nf4"))
    runs.append(make_run(GEMMA, 32, backend="unsloth", quant="nf4"))
    runs.append(make_run(GEMMA, 32, backend="liger", quant="nf4"))
    runs.append(
        make_run(
            QWEN,
            128,
            status="mismatch",
            reason="effective settings differ from the request",
            mismatches=["grad_accum: requested 1, effective 2"],
        )
    )
    runs += [make_run(SMOL, r, weights="shape") for r in (16, 32, 64)]
    if xss:
        runs[0] = make_run(GEMMA, 16, quality=0.7, answer_override=f"{XSS} 나 오늘 좋아 & <b>bold</b>")
        runs.append(make_run(QWEN, 8, status="failed", reason=f"bad answer {XSS}", stderr_tail=f"{XSS} & <i>x</i>"))
    return runs


def make_results_folder(
    folder: Path,
    scenario: str = "mixed",
    *,
    xss: bool = False,
    ranking: dict[str, float] | None = None,
    corrupt: bool = False,
    spec_extra: dict[str, Any] | None = None,
) -> Path:
    if scenario == "mixed":
        runs = mixed_runs(xss)
    elif scenario == "real":
        runs = real_runs()
    elif scenario == "shape":
        runs = [make_run(c, r, weights="shape") for c in (GEMMA, QWEN) for r in (16, 32)]
    elif scenario == "cpu":
        runs = [make_run(c, r, device="cpu", gpu=None) for c in (SMOL, QWEN) for r in (8, 16)]
    elif scenario == "one":
        runs = [make_run(SMOL, r, device="cpu", gpu=None, quality=0.3 + r / 200) for r in (16, 32, 64)]
    elif scenario == "failed":
        runs = [
            make_run(GEMMA, 16, status="oom", reason="CUDA out of memory", stderr_tail="torch.OutOfMemoryError"),
            make_run(QWEN, 16, status="crashed", reason="child died with signal 9 (SIGKILL)", stderr_tail="Killed"),
            make_run(POLY, 16, status="timeout", reason="no result after 3600 s"),
            make_run(
                POLY,
                16,
                backend="unsloth",
                quant="nf4",
                status="unsupported",
                reason="Unsloth has no patch for gpt_neox",
            ),
        ]
    else:
        raise ValueError(f"unknown scenario {scenario}")
    grades = None
    if scenario == "mixed":
        gemma16 = next(r for r in runs if r.request.candidate.name == GEMMA["name"] and r.request.lora.rank == 16)
        grades = {
            gemma16.key: {
                "tuned": {
                    aid: {"grade": g, "comment": ""} for (aid, *_), g in zip(PROMPTS, (5, 4, 4, 3, 5, 4), strict=True)
                }
            }
        }
    folder = write_results(
        folder,
        runs,
        ranking=ranking,
        grades=grades,
        weights="shape" if scenario == "shape" else "real",
        spec_extra=spec_extra,
    )
    if corrupt:
        (folder / "runs" / "truncated-r16-hf-none-000000000000.json").write_text(
            '{"schema_version": 2, "key": "abc", "lab', encoding="utf-8"
        )
        (folder / "runs" / "other-schema.json").write_text('{"schema_version": 99}', encoding="utf-8")
    return folder
