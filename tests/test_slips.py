"""What slipped through (issue 29): grade rows through generation, scoring and the grading sheet; inputs the
preflight catches; the fork server's end with its parent; refused input writes nothing; errors and headers that
name what the user typed and what ran."""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness import cli, weights
from harness import data as data_mod
from harness.child import run as run_mod
from harness.errors import UserError
from harness.quality.grades import export_sheet
from harness.result import RunResult
from harness.sweep import forkserver
from tests.tiny import tiny_request

REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------- 1. grade rows


@pytest.fixture
def tiny_dir(shape_cache: Path) -> Path:
    """A tiny model saved with save_pretrained (weights + tokenizer), used as if it were real weights."""
    req = tiny_request("llama")
    path = data_mod.resolve_data_path(req.data.path)
    ex = data_mod.load_examples(path, req.data.format)
    w = weights.resolve(req, "cpu", [e.question + " " + (e.answer or "") for e in ex], data_mod.file_sha256(path))
    return w.model_dir


@pytest.fixture
def graded_csv(tmp_path: Path) -> Path:
    """The sample data with references on some `valid` rows (as a team's file may have): a grade row with a
    reference must still not be scored, nor counted where the scoring pass's answers are."""
    text = (REPO / "data" / "sample_qa.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    for n, row in enumerate(r for r in rows[1:] if r[1] == "valid"):
        if n % 2 == 0:
            row[3] = row[4] = f"참고 답 {n}"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path = tmp_path / "graded.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


GRID = list(itertools.product([0, 1, 3], [0, 2], [1, 8], [False, True]))


@pytest.mark.slow
@pytest.mark.parametrize(("eval_rows", "grade_rows", "batch", "base"), GRID)
def test_grade_rows_run_with_every_mix_of_eval_rows_batch_and_base_answers(
    tmp_path: Path, tiny_dir: Path, graded_csv: Path, monkeypatch: pytest.MonkeyPatch,
    eval_rows: int, grade_rows: int, batch: int, base: bool,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    req = tiny_request(
        "llama", weights="real", weights_path=str(tiny_dir),
        data={"path": str(graded_csv), "eval_rows": eval_rows, "grade_rows": grade_rows},
        train={"max_steps": 1, "burn_in_steps": 0},
        generation={"batch_size": batch, "latency_prompts": 1, "max_new_tokens": 3, "base_answers": base},
    )  # fmt: skip
    runs = tmp_path / "res" / "runs"
    runs.mkdir(parents=True)
    out = runs / "run.json"
    run_mod.RunChild(req, "k" * 64, out).execute()
    res = RunResult.read(out)
    assert res.status == "ok", res.reason

    splits = data_mod.select_rows(data_mod.load_examples(graded_csv), 8, eval_rows, grade_rows)
    eval_ids, grade_ids = [e.id for e in splits.eval], [e.id for e in splits.grade]
    stages = ["base", "tuned"] if base else ["tuned"]
    for stage in stages:
        got = [(a.id, a.role) for a in res.answers if a.stage == stage]
        assert got == [(i, "eval") for i in eval_ids] + [(i, "grade") for i in grade_ids]
        q = res.quality.stage(stage)
        if eval_ids:  # the scored answers, and only they, make the stage's quality
            assert q["bits_per_char"].n == len(eval_ids) and q["chrf"].n == len(eval_ids)
            assert q["hangul_ratio"].n == len(eval_ids)
        else:
            assert q == {}
    for a in res.answers:
        if a.role == "grade":  # a grade row's own reference is shown for grading, never scored
            assert "chrf" not in a.scores or a.scores["chrf"] is None
            assert "bits_per_char" not in a.scores
    assert any(a.reference for a in res.answers if a.role == "grade") == (grade_rows > 0)

    sheet = tmp_path / "sheet.csv"
    n = export_sheet(tmp_path / "res", sheet)
    rows = list(csv.DictReader(io.StringIO(sheet.read_text(encoding="utf-8-sig"))))
    listed = [(r["stage"], r["answer_id"]) for r in rows]
    if grade_rows:  # exactly the grade rows, each stage that answered them
        assert listed == [(s, i) for s in stages for i in grade_ids]
    else:  # no grade rows asked: the scored answers can be graded instead
        assert listed == [(s, i) for s in stages for i in eval_ids]
    assert n == len(rows)


def test_scoring_keeps_grade_answers_out_of_the_reference_metrics() -> None:
    """The unit under the grid: bits per character lines up with the scored answers only."""
    from harness.quality.score import score_run

    def ans(aid: str, role: str, ref: str | None) -> dict[str, Any]:
        return {"id": aid, "stage": "tuned", "role": role, "prompt": "p", "reference": ref, "answer": "네 좋아요",
                "hit_eos": True, "new_tokens": 3}  # fmt: skip

    answers = [ans("1", "eval", "좋아요"), ans("60", "grade", "참고"), ans("61", "grade", None)]
    per, quality = score_run(answers, {"tuned": [1.5]}, meaningful=True)
    assert per[0]["bits_per_char"] == 1.5 and per[0]["chrf"] is not None
    assert per[1]["chrf"] is None and "bits_per_char" not in per[1] and per[1]["hangul_ratio"] == 1.0
    assert quality["tuned"]["chrf"]["n"] == 1 and quality["tuned"]["hangul_ratio"]["n"] == 1


# ---------------------------------------------------------------- 6. the fork server ends with its sweep

SWEEP_PARENT = """
import os, subprocess, sys, time
from pathlib import Path
from harness.sweep.forkserver import ForkServer
server = ForkServer(Path(sys.argv[1]), dict(os.environ), preload=())
server.start()
holder = 0
if sys.argv[2] == "hold":  # a process that keeps the server's stdin open: only the parent-death signal is left
    fd = server.proc.stdin.fileno()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], pass_fds=[fd]).pid
print(server.proc.pid, holder, flush=True)
time.sleep(600)
"""


def _gone(pid: int, within_s: float) -> bool:
    import psutil

    end = time.monotonic() + within_s
    while time.monotonic() < end:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("pdeathsig", [True, False], ids=["parent-death-signal", "stdin-closed"])
def test_the_fork_server_ends_when_its_sweep_is_killed(tmp_path: Path, pdeathsig: bool) -> None:
    """kill -9 of the sweep's parent: its fork server ends within seconds and takes its folder with it, by the
    kernel's parent-death signal (Linux; its stdin held open by another process) or, where there is none, by
    the end of file of its stdin."""
    if not pdeathsig:  # the portable way alone: the server's prctl asks for nothing
        (tmp_path / "sitecustomize.py").write_text(
            "import harness.sweep.forkserver as f\nf.PR_SET_PDEATHSIG = -1\n", encoding="utf-8"
        )
    folder = tmp_path / "harness-fork-test"
    folder.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    how = "hold" if pdeathsig else "-"
    parent = subprocess.Popen([sys.executable, "-c", SWEEP_PARENT, str(folder), how], stdout=subprocess.PIPE, env=env)
    holder = 0
    try:
        server_pid, holder = map(int, parent.stdout.readline().split())  # type: ignore[union-attr]
        assert not _gone(server_pid, 0.5) and (folder / "forkserver.sock").exists()
        parent.kill()  # kill -9
        parent.wait()
        assert _gone(server_pid, 5.0), "the fork server outlived its sweep"
        end = time.monotonic() + 5.0
        while folder.exists() and time.monotonic() < end:
            time.sleep(0.05)
        assert not folder.exists()
    finally:
        if parent.poll() is None:
            parent.kill()
        if holder:
            os.kill(holder, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, NameError):
            os.killpg(server_pid, signal.SIGKILL)  # only if the test failed: the server this test started


def test_a_sweep_removes_what_a_killed_sweep_left(tmp_path: Path) -> None:
    """A server left by a sweep killed before servers ended with it (its parent gone), its folder, and an empty
    folder of a sweep killed mid-start are removed; a live sweep's folder is left alone."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / "harness-fork-orphan"
    server = forkserver.ForkServer(orphan, dict(os.environ, PYTHONPATH=str(REPO)), preload=())
    server.start()
    assert server.proc is not None
    info = orphan / forkserver.INFO_NAME
    info.write_text(json.dumps({"server": server.proc.pid, "parent": dead.pid, "parent_started": 0.0}))
    empty = tmp_path / "harness-fork-empty"
    empty.mkdir()
    os.utime(empty, (time.time() - 3600, time.time() - 3600))
    live = tmp_path / "harness-fork-live"
    live.mkdir()
    me = psutil.Process()
    (live / forkserver.INFO_NAME).write_text(
        json.dumps({"server": 1, "parent": me.pid, "parent_started": me.create_time()})
    )
    try:
        notes = forkserver.clean_stale(tmp_path)
        assert _gone(server.proc.pid, 5.0)
        assert not orphan.exists() and not empty.exists() and live.exists()
        assert len(notes) == 2 and any(f"pid {server.proc.pid}" in n for n in notes)
    finally:
        server.stop()


# ---------------------------------------------------------------- 2. a model folder without its tokenizer


def _no_tokenizer(tiny_dir: Path, dest: Path) -> Path:
    dest.mkdir()
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        shutil.copyfile(tiny_dir / name, dest / name)
    return dest


def test_preflight_refuses_a_model_folder_without_tokenizer_files(
    tmp_path: Path, tiny_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _no_tokenizer(tiny_dir, tmp_path / "no-tok")
    results = tmp_path / "results"
    code = cli.main(["bench", "--model", str(folder), "--results-root", str(results), "--max-steps", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith(f"error: model '{folder}': {folder} has no tokenizer files") and "\n" not in err
    assert "tokenizer.json" in err  # what is missing, as transformers' tokenizer class for llama reads it
    assert not results.exists()  # before any child, before any results folder


def test_preflight_refuses_a_weights_path_without_tokenizer_files(
    tmp_path: Path, tiny_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _no_tokenizer(tiny_dir, tmp_path / "no-tok")
    results = tmp_path / "results"
    code = cli.main(["bench", "--model", "llama1B", "--weights-path", str(folder), "--results-root", str(results)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith(f"error: --weights-path {folder}: no tokenizer files") and "\n" not in err
    assert "tokenizer.json" in err and not results.exists()


# ---------------------------------------------------------------- 3. --gpus on a machine without one


@pytest.mark.parametrize("count", [None, 0], ids=["no-nvml", "nvml-no-gpu"])
def test_gpus_on_a_machine_without_a_gpu_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], count: int | None
) -> None:
    from harness import nvml

    monkeypatch.setattr(nvml, "gpu_count", lambda: count)  # as on this CPU machine, whatever the test runs on
    results = tmp_path / "results"
    code = cli.main(["bench", "--gpus", "0", "--results-root", str(results)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: --gpus 0: ") and "\n" not in err, err
    assert "GPU" in err and "leave --gpus out" in err and not results.exists()
    from harness.sweep.runner import _validate_gpus

    with pytest.raises(UserError, match=r"gpus \[0\]: .*leave gpus out"):  # run_sweep's own check
        _validate_gpus([0])


# ---------------------------------------------------------------- 5. a --candidates file that holds nothing


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        ("5\n", "it holds a single int ('5'), not a list"),
        ("gemma-2-2b-it\n", "it holds a single str ('gemma-2-2b-it'), not a list"),
        ("models: [a]\n", "a mapping without 'candidates' (keys: models)"),
        ("candidates:\n", "its 'candidates' is nothing, not a list"),
        ("[]\n", "the list is empty"),
    ],
)
def test_a_candidates_file_that_parses_to_nothing_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, says: str
) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    results = tmp_path / "results"
    code = cli.main(["bench", "--candidates", str(path), "--results-root", str(results)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err, err
    assert err.startswith(f"error: --candidates {path}: {says}") and "axes.candidates" not in err
    assert not results.exists()


# ---------------------------------------------------------------- 7. refused input writes nothing


class _NoCluster:
    """ray as it answers with no cluster running."""

    @staticmethod
    def is_initialized() -> bool:
        return False

    @staticmethod
    def init(**kwargs: Any) -> None:
        raise ConnectionError("Could not find any running Ray instance.")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--timeout", "0"], "error: --timeout 0: "),
        (["--timeout", "-1"], "error: --timeout -1: "),
        (["--executor", "ray"], "error: cannot reach a Ray cluster at 'auto'"),
    ],
)
def test_refused_input_leaves_no_results_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    from harness.sweep import ray_executor

    monkeypatch.setattr(ray_executor, "import_ray", lambda: _NoCluster)
    results = tmp_path / "results"
    code = cli.main(["bench", *argv, "--results-root", str(results)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith(says) and "\n" not in err, err
    assert not results.exists()  # no logs/, runs/, scratch/, nor the lock file


def test_run_sweep_checks_its_timeout_and_executor_before_it_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.config import make_spec
    from harness.sweep import ray_executor, run_sweep

    monkeypatch.setattr(ray_executor, "import_ray", lambda: _NoCluster)
    req = tiny_request("llama")
    spec = make_spec({"name": "refused", "axes": {"candidates": [req.candidate.name]}}, "test")
    with pytest.raises(UserError, match="timeout must be > 0"):
        run_sweep(spec, [req], tmp_path / "results", timeout_s=0, progress="quiet")
    with pytest.raises(UserError, match="cannot reach a Ray cluster"):
        run_sweep(spec, [req], tmp_path / "results", executor="ray", progress="quiet")
    assert not (tmp_path / "results").exists()


# ---------------------------------------------------------------- 4. training rows cut to max_length


def _table_text(results: list[RunResult]) -> str:
    from rich.console import Console

    from harness.report.summary import footnotes, run_table

    console = Console(record=True, width=400, file=io.StringIO())
    console.print(run_table(results, {r.key for r in results}, "sweep"))
    for note in footnotes(results):
        console.print(note, markup=False, highlight=False)
    return console.export_text()


@pytest.mark.parametrize(("max_length", "cut"), [(30, True), (256, False)])
def test_training_rows_cut_to_max_length_are_counted_and_shown(
    tmp_path: Path, shape_cache: Path, monkeypatch: pytest.MonkeyPatch, max_length: int, cut: bool
) -> None:
    from transformers import AutoTokenizer

    monkeypatch.chdir(tmp_path)
    req = tiny_request("llama", train={"max_length": max_length, "max_steps": 1, "burn_in_steps": 0})
    out = tmp_path / "run.json"
    run_mod.RunChild(req, "k" * 64, out).execute()
    res = RunResult.read(out)
    assert res.status == "ok", res.reason
    # counted here from the rows as the run rendered them, with the run's tokenizer
    tok = AutoTokenizer.from_pretrained(res.weights.path)
    splits = data_mod.select_rows(data_mod.load_examples(data_mod.resolve_data_path(req.data.path)), 8, 3, 1)
    template = req.candidate.prompt_template
    lengths = [
        len(tok(data_mod.render_prompt(template, e) + data_mod.render_completion(e, tok.eos_token))["input_ids"])
        for e in splits.train
    ]
    over = [n - max_length for n in lengths if n > max_length]
    assert bool(over) == cut
    assert res.weights.train_rows_truncated == len(over) and res.weights.train_tokens_cut_max == max(over, default=0)

    text = _table_text([res])  # the end-of-sweep table: a column and a note only when rows were cut
    assert ("rows cut to max_length" in text) == cut
    if cut:
        assert f"{len(over)}/8, ≤{max(over):,} cut" in text and f"longer than max_length ({max_length}" in text


def test_the_report_says_which_runs_trained_on_cut_rows(tmp_path: Path) -> None:
    from harness.report import build_report
    from tests.report_fixtures import real_runs, write_results

    runs = real_runs((16,))
    assert runs[0].weights is not None
    runs[0].weights.train_rows_truncated, runs[0].weights.train_tokens_cut_max = 20, 4162
    md = build_report(write_results(tmp_path / "cut", runs)).markdown.read_text(encoding="utf-8")
    md = md.replace("\\_", "_")  # Markdown escapes
    assert "Training rows cut to max_length" in md
    note = md.split("Training rows cut to max_length")[1].split("\n")[0]
    name = runs[0].request.candidate.name
    assert f"({name} r16 hf none: 20 of 20 rows longer than max_length 256, up to 4,162 tokens cut from one)" in note
    assert not any(r.request.candidate.name in note for r in runs[1:])
    clean = build_report(write_results(tmp_path / "clean", real_runs((16,)))).markdown.read_text(encoding="utf-8")
    assert "Training rows cut to max" not in clean


# ---------------------------------------------------------------- 8. what the user typed, what ran


@pytest.mark.parametrize(
    ("argv", "lines"),
    [
        (["--ranks", "100000"], ["--ranks 100000: lora.rank 100000 is larger than smollm2-135m's hidden size 576"]),
        (["--max-steps", "-1"], ["--max-steps -1: Input should be greater than 0"]),
        (["--repeats", "0"], ["--repeats 0: Input should be greater than 0"]),  # was ignored: the default ran
        (
            ["--ranks", "0", "--max-steps", "-1", "--prompts", "-2", "--gen-batch", "0"],
            [
                "--ranks 0: ranks must be > 0, got [0]",
                "--prompts -2: Input should be greater than or equal to 0",
                "--max-steps -1: Input should be greater than 0",
                "--gen-batch 0: Input should be greater than 0",
            ],
        ),
    ],
)
def test_errors_name_the_flags_as_typed_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], lines: list[str]
) -> None:
    results = tmp_path / "results"
    code = cli.main(["bench", *argv, "--results-root", str(results)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [f"error: {line}" for line in lines]
    assert not results.exists()


def test_a_spec_files_problems_name_the_file_one_line_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "mine.yaml"
    spec.write_text(
        "name: mine\naxes: {candidates: [smollm2-135m], ranks: [16]}\n"
        "base: {train: {max_steps: -1, batch_size: 0}, generation: {max_new_tokens: 0}}\n",
        encoding="utf-8",
    )
    code = cli.main(["sweep", str(spec), "--results-root", str(tmp_path / "results")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 3 and not any("more)" in line for line in err), err
    assert all(line.startswith(f"error: {spec}: field '") for line in err)
    assert {line.split("field ")[1].split(":")[0] for line in err} == {
        "'train.max_steps'", "'train.batch_size'", "'generation.max_new_tokens'"
    }  # fmt: skip


def test_bench_with_other_data_and_no_model_writes_a_folder_named_after_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def fake_sweep(spec: Any, source: str, args: Any) -> int:
        seen["spec"] = spec
        return 0

    monkeypatch.setattr(cli, "_sweep", fake_sweep)
    mine = tmp_path / "mine.csv"
    shutil.copyfile(REPO / "data" / "sample_qa.csv", mine)
    assert cli.main(["bench", "--data", str(mine)]) == 0
    assert seen["spec"].name == "cpu-default-mine"  # not cpu-default: the default run's report stays
    assert cli.main(["bench"]) == 0 and seen["spec"].name == "cpu-default"
    korean = tmp_path / "데이터.csv"
    shutil.copyfile(mine, korean)
    assert cli.main(["bench", "--data", str(korean)]) == 0
    assert seen["spec"].name.startswith("cpu-default-data-")


def test_the_report_header_states_the_settings_that_ran(tmp_path: Path) -> None:
    """The command overrode the spec's 25 steps, 12 prompts and 48 new tokens with 2, 2 and 4: the header says 2,
    2 and 4 (from the run files) and no longer repeats the spec's description."""
    from harness.report import build_report
    from tests.report_fixtures import real_runs, write_results

    args = cli.build_parser().parse_args(["bench", "--max-steps", "2", "--prompts", "2", "--max-new-tokens", "4"])
    spec = cli._apply(cli.load_sweep_spec(cli.DEFAULT_SPEC), args, "command line")
    assert "25 steps" not in spec.description and "--max-steps 2" in spec.description
    runs = real_runs((16,))
    for r in runs:
        r.request.train.max_steps, r.request.data.eval_rows, r.request.generation.max_new_tokens = 2, 2, 4
    folder = write_results(tmp_path / "ran", runs, spec_extra={"description": spec.description})
    md = build_report(folder).markdown.read_text(encoding="utf-8").replace("\\_", "_")
    header = md.split("\n\n")[1].split(" Generated ")[0]
    assert "Ran with 2 steps (batch 4), 20 training rows, 2 held-out prompts, 4 new tokens" in header
    assert not re.search(r"\b(25|12|48)\b", header), header  # the spec's own steps, prompts, new tokens
