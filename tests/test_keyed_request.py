"""A request cannot change once keyed (issue 28, part 1).

transformers writes into the nested dicts it is given: `AutoConfig.for_model(**shape_config)` adds
`rope_theta` to llama1B's `rope_scaling`. A run that built its shape weights stored the changed request
under the key of the unchanged one, and the report split one configuration into two cells.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from harness.child.run import RunChild
from harness.config import Candidate, load_candidates
from harness.keys import KEY_INPUTS_ENV, key_of
from harness.report.load import load_results
from harness.result import KeyInputs, RunResult
from tests.report_fixtures import GEMMA, make_run, write_results
from tests.tiny import TINY, tiny_request

INPUTS = KeyInputs(data_sha256="d" * 64, packages={"torch": "2.13.0", "harness-measurement": "x"}, gpu="NVIDIA H200")


def _tiny(cand: Candidate) -> Candidate:
    """The candidate at a tiny size: its sizes from tests/tiny.py, every other field (rope_scaling,
    rope_theta, softcapping, ...) its own, so that transformers sees what it would write into."""
    return cand.model_copy(
        update={"shape_config": {**copy.deepcopy(cand.shape_config), **TINY[cand.model_type]["config"]}}
    )


@pytest.mark.parametrize("name", [c.name for c in load_candidates().candidates])
def test_every_candidate_builds_in_shape_mode_without_changing_its_keyed_request(
    name: str, shape_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness import weights

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no hub: the stand-in tokenizer
    cand = _tiny(load_candidates().get(name))
    req = tiny_request(candidate=cand)
    key = key_of(req, INPUTS)
    before = req.model_dump(mode="json")
    texts = ["안녕 오늘 기분 어때? 나 오늘 완전 좋아", "hello world, a small text to train a tokenizer on"] * 20
    weights.resolve(req, "cpu", texts, "e" * 64)
    assert req.model_dump(mode="json") == before
    assert key_of(req, INPUTS) == key


@pytest.mark.parametrize("name", [c.name for c in load_candidates().candidates])
def test_the_shape_config_is_copied_before_transformers_sees_it(name: str) -> None:
    from harness.weights import shape_model_config

    cand = load_candidates().get(name)  # full size: only the config is built, never the model
    before = copy.deepcopy(cand.shape_config)
    shape_model_config(cand)
    assert cand.shape_config == before


def test_the_run_stores_a_copy_of_its_request_with_the_key_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cand = load_candidates().get("llama1B")
    req = tiny_request(candidate=_tiny(cand))
    key = key_of(req, INPUTS)
    monkeypatch.setenv(KEY_INPUTS_ENV, INPUTS.model_dump_json())
    child = RunChild(req, key, tmp_path / "r.json")
    req.candidate.shape_config["rope_scaling"]["rope_theta"] = 500000.0  # what transformers did to it
    stored = child.result
    assert stored.request is not req
    assert "rope_theta" not in stored.request.candidate.shape_config["rope_scaling"]
    assert stored.key_inputs == INPUTS
    assert key_of(stored.request, stored.key_inputs) == key


def test_a_planned_run_keeps_its_own_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.sweep import plan

    monkeypatch.setattr(plan, "data_sha256", lambda path: "d" * 64)
    req = tiny_request(candidate=_tiny(load_candidates().get("llama1B")))
    (planned,), _ = plan.plan_runs([req], "NVIDIA H200", 60)
    req.candidate.shape_config["rope_scaling"]["rope_theta"] = 1.0
    assert planned.key_inputs is not None
    assert key_of(planned.request, planned.key_inputs) == planned.key


def _changed(run: RunResult) -> RunResult:
    """The run as a library left it: its request written into after the key was taken."""
    raw = run.to_dict()
    raw["request"]["candidate"]["shape_config"]["rope_scaling"] = {"rope_type": "llama3", "rope_theta": 500000.0}
    return RunResult.model_validate(raw)


def test_report_warns_about_a_run_file_whose_request_does_not_rehash(tmp_path: Path) -> None:
    good = [make_run(GEMMA, 16, repeat=i) for i in range(3)]
    bad = _changed(make_run(GEMMA, 64))
    folder = write_results(tmp_path / "sweep", [*good, bad])
    rs = load_results(folder)
    assert len(rs.warnings) == 1
    assert "does not re-hash to its key" in rs.warnings[0] and bad.key[:12] in rs.warnings[0]
    assert rs.warnings[0].startswith("runs/gemma-2-2b-it-r64-")
    assert rs.warnings[0] in rs.notes


def test_report_checks_older_files_against_the_data_file_and_their_environment(tmp_path: Path) -> None:
    """No recorded key inputs: the key is rebuilt from the data file and the environment the run recorded."""
    from harness.keys import data_sha256, package_names

    run = make_run(GEMMA, 16)
    req = run.request
    env = run.environment.model_copy(update={"measurement_version": "7"})
    packages = {"harness-measurement": "7", **{n: env.packages.get(n) for n in package_names(req)}}
    key = key_of(req, KeyInputs(data_sha256=data_sha256(req.data.path), packages=packages, gpu=env.gpu_name))
    old = run.model_copy(update={"key": key, "key_inputs": None, "environment": env})
    assert load_results(write_results(tmp_path / "a", [old])).warnings == []
    assert len(load_results(write_results(tmp_path / "b", [_changed(old)])).warnings) == 1
    gone = RunResult.model_validate(
        json.loads(old.to_json()) | {"request": {**old.request.model_dump(), "data": {"path": "gone.csv"}}}
    )
    notes = load_results(write_results(tmp_path / "c", [gone])).notes
    assert any("could not be re-hashed" in n and "gone.csv" in n for n in notes)


FIRST_FORM_PACKAGES = (
    "torch", "transformers", "peft", "trl", "datasets", "accelerate", "bitsandbytes", "unsloth", "unsloth_zoo", "gguf"
)  # fmt: skip


def _first_form_key(raw: dict) -> str:
    """The key as harness e6db1ed and before took it, written out here apart from harness.report.keycheck."""
    import hashlib

    from harness.keys import canonical_json, data_sha256

    req, env = raw["request"], raw["environment"]
    mv = env.get("measurement_version")
    packages = ({"harness-measurement": mv} if mv else {}) | {n: env["packages"].get(n) for n in FIRST_FORM_PACKAGES}
    gpu = None if req.get("device") == "cpu" else env["gpu_name"]
    doc = {"request": req, "data": data_sha256(req["data"]["path"]), "packages": packages, "gpu": gpu}
    return hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


def _schema1(run: RunResult, mv: str | None = "2") -> dict:
    """The run as a schema-1 file stored it: `quality_weights` in the request, no key inputs; keyed in the first
    form (measurement version `mv`)."""
    raw = json.loads(run.to_json())
    raw["schema_version"] = 1
    raw.pop("key_inputs")
    raw["request"]["quality_weights"] = None
    raw["environment"]["measurement_version"] = mv
    raw["key"] = _first_form_key(raw)
    return raw


def _folder_of(path: Path, raw: dict) -> Path:
    """A results folder holding the one raw run file, under its key (as the sweep named it)."""
    folder = write_results(path, [RunResult.from_json_text(json.dumps(raw))])
    (file,) = (folder / "runs").glob("*.json")
    file.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    return folder


@pytest.mark.parametrize("mv", ["2", None])
def test_report_checks_schema_1_files_in_the_first_key_form(tmp_path: Path, mv: str | None) -> None:
    """Schema-1 files were keyed from their raw request (with its quality_weights), every backend's packages and,
    from measurement version 2 on, the measurement version: they re-hash in that form, and a change is caught."""
    raw = _schema1(make_run(GEMMA, 16), mv)
    rs = load_results(_folder_of(tmp_path / "ok", raw))
    assert len(rs.runs) == 1 and rs.warnings == []

    changed = copy.deepcopy(raw)
    changed["request"]["lora"]["rank"] = 32  # changed after it was keyed: the key stays
    (note,) = load_results(_folder_of(tmp_path / "changed", changed)).warnings
    assert "does not re-hash to its key" in note and "first key form" in note and raw["key"][:12] in note

    # the key of the upgraded request (quality_weights dropped, defaults added) is not the first form's
    upgraded = RunResult.from_json_text(json.dumps(raw)).to_dict()
    wrong = copy.deepcopy(raw) | {"key": _first_form_key(upgraded | {"environment": raw["environment"]})}
    assert wrong["key"] != raw["key"]
    (note,) = load_results(_folder_of(tmp_path / "wrong", wrong)).warnings
    assert "does not re-hash to its key" in note and wrong["key"][:12] in note


def test_the_unchecked_note_gives_its_reason(tmp_path: Path) -> None:
    """A file with no environment (a run cancelled before it measured) is not re-hashed, and says so; its data
    file is here, so the note does not blame it."""
    cancelled = make_run(GEMMA, 16, status="cancelled", reason="cancelled before it started")
    cancelled = cancelled.model_copy(update={"key_inputs": None, "environment": None})
    gone = make_run(GEMMA, 32)
    env = gone.environment.model_copy(update={"measurement_version": "7"})
    gone = gone.model_copy(update={"key_inputs": None, "environment": env})
    gone = RunResult.model_validate(
        gone.to_dict() | {"request": gone.to_dict()["request"] | {"data": {"path": "gone.csv"}}}
    )
    notes = load_results(write_results(tmp_path / "a", [cancelled, gone])).warnings
    assert len(notes) == 2
    env_note = next(n for n in notes if cancelled.key[:12] in n)
    assert "record no environment" in env_note and "data file" not in env_note
    data_note = next(n for n in notes if gone.key[:12] in n)
    assert "data file (gone.csv) is not here" in data_note and "environment" not in data_note
