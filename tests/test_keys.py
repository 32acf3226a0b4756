"""Run keys cover what moves the figures, and nothing else (so a licence fix reruns nothing)."""

from __future__ import annotations

from harness.config import expand_sweep, load_candidates, load_sweep_spec, make_spec, parse_job
from harness.keys import figure_packages, package_names, result_stem, run_key
from tests.tiny import tiny_request

PACKAGES = {"torch": "2.11.0", "transformers": "5.17.0"}


def _key(**over) -> str:
    return run_key(tiny_request("llama", **over), "sha", PACKAGES, "H100")


def test_descriptive_candidate_fields_do_not_change_the_key() -> None:
    req = tiny_request("llama")
    base = run_key(req, "sha", PACKAGES, "H100")
    for field, value in [("license", "MIT, corrected"), ("ko_llm_avg", 99.0), ("params_b", 9.9), ("family", "x")]:
        changed = req.model_copy(update={"candidate": req.candidate.model_copy(update={field: value})})
        assert run_key(changed, "sha", PACKAGES, "H100") == base, field


def test_what_moves_the_figures_changes_the_key() -> None:
    req = tiny_request("llama")
    base = run_key(req, "sha", PACKAGES, "H100")
    cfg = dict(req.candidate.shape_config, num_hidden_layers=3)
    assert run_key(req.model_copy(update={"candidate": req.candidate.model_copy(update={"shape_config": cfg})}),
                   "sha", PACKAGES, "H100") != base  # fmt: skip
    assert _key(lora={"rank": 8}) != base
    assert _key(repeat=1) != base
    assert run_key(req, "other-data", PACKAGES, "H100") != base
    assert run_key(req, "sha", {**PACKAGES, "torch": "2.12.0"}, "H100") != base
    assert run_key(req, "sha", PACKAGES, "T4") != base


def test_score_weights_live_in_the_spec_not_in_the_request(tmp_path) -> None:
    """Reweighting the composite needs no rerun: the weights never reach a run request."""
    fields = {"name": "s", "axes": {"candidates": ["llama1B"]}, "weights": "shape"}
    plain = expand_sweep(make_spec(fields, "s"), load_candidates())
    weighted = expand_sweep(make_spec({**fields, "quality_weights": {"chrf": 5.0}}, "s"), load_candidates())
    assert [r.key_fields() for r in plain] == [r.key_fields() for r in weighted]


def test_packages_follow_the_backend() -> None:
    assert "unsloth" not in package_names(tiny_request("llama"))
    assert "bitsandbytes" not in package_names(tiny_request("llama"))
    assert {"unsloth", "unsloth_zoo"} <= set(package_names(tiny_request("llama", backend="unsloth")))
    assert "liger-kernel" in package_names(tiny_request("llama", backend="liger"))
    assert "bitsandbytes" in package_names(tiny_request("llama", quant="nf4"))
    assert {"unsloth", "liger-kernel", "bitsandbytes"} <= set(package_names())  # the manifest lists all
    assert figure_packages(tiny_request("llama"))["harness-measurement"]


def test_repeats_interleave_in_configuration_order_and_get_their_own_files() -> None:
    spec = make_spec(
        {"name": "s", "weights": "shape", "axes": {"candidates": ["llama1B", "gemma-2-2b-it"], "repeats": 3}}, "s"
    )
    reqs = expand_sweep(spec, load_candidates())
    order = [(r.repeat, r.candidate.name) for r in reqs]
    assert order == [(0, "llama1B"), (0, "gemma-2-2b-it"), (1, "llama1B"), (1, "gemma-2-2b-it"),
                     (2, "llama1B"), (2, "gemma-2-2b-it")]  # fmt: skip
    stems = {result_stem(r, "k" * 64) for r in reqs}
    assert len(stems) == 6 and any("-rep2-" in s for s in stems)


def test_job_projection_steps_match_the_trainer_rule() -> None:
    assert parse_job("20x10@2/4").total_steps == 30  # ceil(ceil(20/2)/4) = 3 a epoch, 10 epochs
    assert parse_job("200x3@4").total_steps == 150
    assert parse_job("600").total_steps == 600


def test_shipped_specs_load() -> None:
    from pathlib import Path

    for p in sorted(Path("benchmarks").glob("*.yaml")):
        if p.name != "gpu-prices.yaml":
            load_sweep_spec(p)


def test_repeats_and_job_from_the_command_line() -> None:
    import argparse

    import pytest

    from harness.cli import _apply
    from harness.errors import UserError

    spec = load_sweep_spec(__import__("pathlib").Path("benchmarks/seed-study.yaml"))
    assert spec.job is not None and spec.job.total_steps == 150  # the shipped study projects 200 rows x 3 epochs
    out = _apply(spec, argparse.Namespace(repeats=3, job="100x2@4"), "cli")
    assert out.axes.repeats == 3 and out.job.total_steps == 50
    with pytest.raises(UserError, match="--job"):
        _apply(spec, argparse.Namespace(job="lots"), "cli")
