"""One run, in its own process: load, answer (base), fine-tune, answer (tuned), score, write.

    python -m harness.child.run --request REQ.json --result OUT.json --key KEY

The sweep starts this module in a fresh interpreter for every run (a backend may patch
libraries globally, and allocator state leaks between runs). It announces `HARNESS_PHASE <name>` lines on
stdout, writes a RunResult atomically whatever the outcome (ok, oom, unsupported, mismatch, failed)
and exits 0 when it did. Only a hard death (signal) leaves the result to the parent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from harness import faults
from harness.backends import get as get_backend
from harness.caches import cache_states
from harness.child.failures import failure_reason, is_oom, oom_reason, release_memory
from harness.child.fake import fake_run
from harness.config import RunRequest
from harness.errors import UserError
from harness.keys import key_inputs_from_env
from harness.phases import Phase
from harness.result import Answer, Generation, Quality, RunResult, Weights

T_START = time.perf_counter()


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class RunChild:
    """State of one run; every phase adds to `self.result`, so a failure keeps what was measured."""

    def __init__(self, request: RunRequest, key: str, result_path: Path) -> None:
        faults.reset()
        self.request = request
        self.result_path = result_path
        self.result = RunResult(
            key=key,
            label=request.label,
            status="failed",
            reason="did not finish",
            # a deep copy, so that nothing the run does to its request (libraries write into the dicts they are
            # given) reaches the stored one, which must re-hash to `key` with `key_inputs`
            request=request.model_copy(deep=True),
            key_inputs=key_inputs_from_env(),
            started_at=now(),
        )
        self.monitor: Any = None
        self.phase_name: str = "start"
        self.merged = False  # the adapter was merged into the weights before the tuned answers

    # ------------------------------------------------------------ outcome
    def finish(self, status: str, reason: str | None) -> None:
        self.result.status = status  # type: ignore[assignment]
        self.result.reason = reason
        self.result.finished_at = now()
        self.result.wall_s = time.perf_counter() - T_START
        self.result.partial = False
        self.result.injected = faults.fired()
        if self.monitor is not None:
            self.result.phases.update(self.monitor.phases)
            self.monitor.stop()
        faults.hit("write", self.request.label)
        self.result.write(self.result_path)

    def checkpoint(self) -> None:
        """Write what was measured so far, marked partial (status failed, "did not finish"): when the child
        dies, times out or is cancelled later, the sweep's parent keeps these phases in the result it writes."""
        if self.monitor is not None:
            self.result.phases.update(self.monitor.phases)
        self.result.partial = True
        self.result.wall_s = time.perf_counter() - T_START
        with suppress(OSError):
            self.result.write(self.result_path)

    @contextmanager
    def phase(self, name: str) -> Iterator[Any]:
        """A timed phase under the monitor; the partial result is written as soon as it ends, however it ends."""
        self.phase_name = name
        try:
            with self.monitor.phase(name) as handle:
                yield handle
        finally:
            self.checkpoint()

    # ------------------------------------------------------------ the run
    def execute(self) -> None:
        req = self.request
        backend = get_backend(req.backend)
        caches = cache_states()  # before anything can compile
        faults.hit("start", req.label)
        from harness.preflight import capability, run_data

        reason = capability(req)  # the preflight's capability part: here, where it is the run's outcome
        if reason:
            self.finish("unsupported", reason)
            return

        backend_env = backend.process_env(req)  # before torch: a backend may patch the libraries first

        import torch

        # where the start-up before the load goes (before_load_s below), part by part, for the sweep's overhead
        mark = time.perf_counter()
        # the interpreter (a fresh start) or the fork, the capability check, torch (preloaded when forked)
        self.result.one_time["start_imports_checks_s"] = mark - T_START

        def lap(name: str) -> None:
            nonlocal mark
            now = time.perf_counter()
            self.result.one_time[f"start_{name}_s"] = now - mark
            mark = now

        device = "cuda" if (req.device != "cpu" and torch.cuda.is_available()) else "cpu"
        gpu_index = 0 if device == "cuda" else None
        if device == "cuda":
            # the CUDA context, timed on its own, before the libraries below would create it (peft imports
            # bitsandbytes, which asks CUDA for the device's capability)
            torch.cuda.init()
            reason = self.gpu_support(torch)
            if reason:
                self.finish("unsupported", reason)
                return
        lap("cuda")

        from harness import data as data_mod
        from harness import weights
        from harness.backends import common
        from harness.child import env, generate, readback, train
        from harness.child.monitor import Monitor
        from harness.data import tokens

        lap("libraries")  # transformers, peft, trl, the backend's own (the fork server preloads only some)
        self.result.environment = env.capture(gpu_index)
        self.result.environment.compile_caches = caches
        lap("environment")
        self.monitor = mon = Monitor(gpu_index=gpu_index).start()
        self.result.environment.monitor = mon.description
        lap("monitor")

        # data: the preflight's data part, as the parent ran it before the sweep (checked again here)
        got = run_data(req)  # a file, or a hub data set at the commit the sweep pinned
        loaded, splits, template = got.loaded, got.splits, got.template
        examples = loaded.examples
        lap("data")

        # weights: one-time work (conversion, shape build) kept out of the phases
        texts = [e.question + " " + (e.answer or "") for e in examples]
        w = weights.resolve(req, device, texts, loaded.data_id)
        self.result.one_time.update(w.one_time)
        if "shape_build_s" in w.one_time:  # built in this process: its memory must not land in the load phase
            release_memory(torch, device)
        lap("weights")  # tokenizer and weights resolved (a shape build or stand-in tokenizer included)
        self.result.baseline = mon.snapshot("baseline")  # before the model loads
        lap("baseline")
        # the child's own start-up, for the sweep's overhead: imports after the fork, CUDA context, environment,
        # monitor, data and weight resolution (a shape build included; shape_build_s says how much of it)
        self.result.one_time["before_load_s"] = time.perf_counter() - T_START

        dtype = common.resolve_dtype(req, device)
        faults.hit("load", req.label)
        with self.phase(Phase.LOAD):
            model, tok, load_info = backend.load(req, w, device, dtype)
        counts = common.count_params(model)
        self.result.weights = Weights(
            mode=req.weights, source=w.source, path=str(w.model_dir), tokenizer=w.tokenizer_desc,
            seed=w.seed, params=counts["total_params"], hub_access=w.hub_access, tokenizer_kind=w.tokenizer_kind,
        )  # fmt: skip

        eos = tok.eos_token if req.data.append_eos else None
        train_rows = [
            {"prompt": data_mod.render_prompt(template, e), "completion": data_mod.render_completion(e, eos)}
            for e in splits.train
        ]
        # sequence lengths belong to the tokenizer: with the stand-in they are not the model's (recorded)
        lengths = tokens.token_lengths(tok, train_rows)
        if lengths:
            self.result.weights.train_tokens_mean = statistics.fmean(lengths)
            self.result.weights.train_tokens_max = max(lengths)
        # rows the trainer will cut to max_length: said on screen and in the report, not only in these figures
        self.result.weights.train_rows_truncated, self.result.weights.train_tokens_cut_max = tokens.truncation(
            lengths, req.train.max_length
        )
        eval_items = [(e.id, data_mod.render_prompt(template, e)) for e in splits.eval]
        grade_items = [(e.id, data_mod.render_prompt(template, e)) for e in splits.grade]
        # each answer's row and role, in the order the items are answered: the scored (eval) rows first, then
        # the grade rows, which are never scored against a reference (an id could name either kind of row)
        answered_rows = [("eval", e) for e in splits.eval] + [("grade", e) for e in splits.grade]
        nll_pairs = [(data_mod.render_prompt(template, e), e.answer or "") for e in splits.eval]
        bpc: dict[str, list[float]] = {}

        shape = req.weights == "shape"  # random weights: no quality to score, only the team's latency to time
        gen = generate.settings_for(req.generation, req.weights)  # forced lengths only in shape mode
        lat_items = generate.latency_items(eval_items + grade_items, gen)
        # batch 1 answers every prompt one at a time already: that is the latency; otherwise a stage of its own
        latency_stage = bool(lat_items) and (shape or gen.batch_size > 1)

        def answer_stage(stage: str, mdl: Any) -> None:
            items = eval_items + grade_items
            if not items:
                return
            faults.hit("generate", req.label)
            raw: list[generate.RawAnswer] = []
            wall = 0.0
            if not shape:  # the batched answers carry the quality; random weights have none (GPU time saved)
                first = [p for _, p in items[: gen.batch_size]]
                self.phase_name = f"generate_{stage}"
                self.result.one_time[f"generate_{stage}_burn_in_s"] = generate.burn_in(mdl, tok, first, gen)
                with self.phase(f"generate_{stage}"):
                    raw, wall = generate.answer_batches(mdl, tok, items, gen)
            lat = None
            if latency_stage:
                self.phase_name = f"latency_{stage}"
                self.result.one_time[f"latency_{stage}_burn_in_s"] = generate.latency_burn_in(mdl, tok, items, gen)
                with self.phase(f"latency_{stage}"):
                    lat = generate.latency(mdl, tok, items, gen)
            if raw:
                latency_s = lat.s_per_answer if lat else wall / len(raw)
                n_lat = lat.prompts if lat else len(raw)
                counted, batch, seconds = raw, gen.batch_size, wall
            elif lat is not None:  # shape mode: the one-at-a-time answers are the stage's only answers
                latency_s, n_lat = lat.s_per_answer, lat.prompts
                counted, batch, seconds = lat.answers, 1, lat.wall_s
            else:
                return
            new_tokens = sum(a.new_tokens for a in counted)
            one_by_one = lat.answers if lat is not None else (raw if gen.batch_size == 1 else [])
            self.result.generation.append(
                Generation(
                    stage=stage,
                    batch_size=batch,
                    max_new_tokens=gen.max_new_tokens,
                    forced_new_tokens=gen.force_new_tokens,
                    merged_adapter=(stage == "tuned" and self.merged),
                    prompts=len(counted),
                    new_tokens=new_tokens,
                    wall_s=seconds,
                    s_per_answer=seconds / len(counted),
                    tokens_per_s=new_tokens / seconds if seconds > 0 else 0.0,
                    latency_s_per_answer=latency_s,
                    latency_prompts=n_lat,
                    latency_answer_s=[round(a.seconds, 6) for a in one_by_one],
                )
            )
            for a, (role, ex) in zip(raw, answered_rows if raw else [], strict=True):  # shape mode: none
                if a.id != ex.id:  # answer_batches keeps the items' order
                    raise RuntimeError(f"answer {a.id} came back in the place of row {ex.id}")
                self.result.answers.append(
                    Answer(
                        id=a.id,
                        stage=stage,
                        role=role,  # type: ignore[arg-type]
                        prompt=a.prompt,
                        reference=ex.answer,
                        key_phrase=ex.key_phrase,
                        answer=a.text,
                        new_tokens=a.new_tokens,
                        hit_eos=a.hit_eos,
                        seconds=a.seconds,
                    )
                )
            if nll_pairs and not shape:  # the harness's own scoring pass: real weights only
                with self.phase(f"eval_{stage}"):
                    bpc[stage] = generate.bits_per_char(generate.answer_nll(mdl, tok, nll_pairs))

        if req.generation.base_answers:
            backend.to_inference(model, req)
            answer_stage("base", model)

        # the adapter's initial weights (LoRA A) come from torch's generator: seeded, so that two runs of one
        # request start from the same adapter and train alike (the trainer seeds only at its own start); before
        # the phase, so that its time is the adapter's alone
        from transformers import set_seed

        set_seed(req.train.seed)
        with self.phase(Phase.LORA):
            model, lora_info = backend.add_adapter(model, req)
        counts = common.count_params(model)
        backend.to_training(model, req)  # back from the base answers' inference mode

        timer = train.StepTimer(cuda=device == "cuda", label=req.label)
        out_dir = Path(tempfile.mkdtemp(prefix="trainer-", dir=os.getcwd()))
        with self.phase(Phase.TRAIN_SETUP):  # tokenising the data, building the optimizer
            trainer = train.build_trainer(
                model, tok, train_rows, req, out_dir, device, dtype, timer, backend.trainer_args(req)
            )
        with self.phase(Phase.TRAIN):
            trainer.train()
        self.result.steps = train.step_stats(timer.times, req.train.burn_in_steps, timer.shapes)
        self.result.loss_curve = train.loss_curve(trainer)
        extra = {
            "dtype": common.dtype_name(dtype),
            "attention": common.attention_kernel(model),
            "lora_targets": lora_info.get("lora_targets"),
            "quantized_modules": load_info.get("quantized_modules"),
            **backend.effective_facts(load_info, backend_env),  # the backend's own (its load path, switches)
            **counts,
        }
        self.result.effective = readback.read_effective(trainer, req, len(train_rows), extra)
        self.result.one_time.update({k: float(v) for k, v in lora_info.items() if isinstance(v, int | float)})
        diverged = train.divergence(trainer)
        if diverged:  # what ran is recorded above; no answers from a model whose loss is inf/NaN
            self.finish("diverged", f"{diverged} ({common.dtype_name(dtype)})")
            return

        model = trainer.model
        del trainer
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()  # the optimizer state is gone; generation starts from what it needs
        if req.save_adapter:  # before a merge, which leaves no adapter to save; its seconds are kept apart
            from harness import adapters

            t0 = time.perf_counter()
            adapters.save(model, self.result_path.parent / adapters.SCRATCH_NAME, req.candidate.hub_id)
            self.result.one_time["save_adapter_s"] = time.perf_counter() - t0
        self.merged = req.generation.merge_adapter and req.quant == "none" and backend.can_merge
        if self.merged:
            t0 = time.perf_counter()
            model = model.merge_and_unload()
            self.result.one_time["merge_adapter_s"] = time.perf_counter() - t0
            self.merged = not hasattr(model, "peft_config")  # recorded only when no adapter is left
        backend.to_inference(model, req)
        answer_stage("tuned", model)

        with self.phase(Phase.SCORE):
            self.score(bpc)

        eff = self.result.effective
        if eff is not None and eff.mismatches:
            self.finish("mismatch", "; ".join(eff.mismatches))
        else:
            self.finish("ok", None)

    def gpu_support(self, torch: Any) -> str | None:
        """Before anything else touches the GPU: kernels in this build for it, the emulated GPU's cap (emulation)."""
        from harness.child import emulation

        reason, self.result.emulation = emulation.gpu_support(self.request, torch)
        return reason

    def score(self, bpc: dict[str, list[float]]) -> None:
        from harness.quality.score import score_run

        answers = [a.model_dump() for a in self.result.answers]
        per_answer, quality = score_run(answers, bpc, meaningful=self.request.weights == "real")
        for a, s in zip(self.result.answers, per_answer, strict=True):
            a.scores = s  # metrics only: the report computes composites with its own weights
        self.result.quality = Quality.model_validate(quality)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.child.run", description=__doc__.splitlines()[0])
    ap.add_argument("--request", required=True, type=Path)
    ap.add_argument("--result", required=True, type=Path)
    ap.add_argument("--key", required=True)
    args = ap.parse_args(argv)

    if fake_run(args.request, args.result, args.key):
        return 0
    try:
        request = RunRequest.model_validate(json.loads(args.request.read_text(encoding="utf-8")))
    except Exception as e:  # the parent wrote it; a bad one is a bug or a hand edit
        print(f"error: {args.request}: not a valid run request ({type(e).__name__})", file=sys.stderr)
        return 2
    run = RunChild(request, args.key, args.result)
    try:
        run.execute()
    except UserError as e:
        run.finish("failed", str(e))
    except Exception as e:
        traceback.print_exc()
        if is_oom(e):
            try:
                run.finish("oom", oom_reason(run, e))
            except Exception:
                return 1
        else:
            run.finish("failed", failure_reason(e, run.phase_name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
