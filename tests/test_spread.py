"""Run-to-run spread, measured and marked (issue 28, part 4).

A rerun of a published comparison on a fresh machine moved it by 10-20%: runs record the machine boot they
ran in, a comparison whose sides ran on different boots says so, the report shows how far repeats of one
configuration lie apart, and a sweep's repeats run interleaved (A B A B ...) so that compared
configurations share the machine's drift.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.child import env
from harness.config import expand_sweep, load_candidates, make_spec
from harness.report import build_report
from harness.report.analysis import analyse
from harness.report.load import load_results
from harness.report.prices import PriceTable
from harness.result import Environment, RunResult
from tests.report_fixtures import GEMMA, make_run, write_results

NO_PRICES = PriceTable.load(None, required=False)
BOOT_A, BOOT_B = "0f3c1a52-6b1e-4c2e-9d7a-1b2c3d4e5f60", "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"


def _run(backend: str, boot: str | None, repeat: int = 0, step: float = 0.3, **kw: Any) -> RunResult:
    return make_run(
        GEMMA, 16, backend=backend, repeat=repeat, steady=[step] * 20, burn=[step] * 2, env={"boot_id": boot}, **kw
    )


def test_every_run_records_its_machine_boot(tmp_path: Path) -> None:
    f = tmp_path / "boot_id"
    f.write_text(BOOT_A + "\n", encoding="ascii")
    assert env.boot_id(f) == BOOT_A
    assert env.boot_id(tmp_path / "none") is None
    if env.BOOT_ID.exists():  # Linux: the capture holds this machine's boot id
        assert env.capture(None).boot_id == env.BOOT_ID.read_text().strip()
    assert Environment.model_validate({**env.capture(None).model_dump(), "boot_id": None}).boot_id is None


def test_older_files_without_a_boot_id_load_as_unknown() -> None:
    raw = _run("hf", None).to_dict()
    raw["environment"].pop("boot_id")
    assert RunResult.model_validate(raw).environment.boot_id is None


def test_a_comparison_across_boot_ids_says_so(tmp_path: Path) -> None:
    across = [_run("hf", BOOT_A), _run("unsloth", BOOT_B, step=0.2)]
    (pair,) = analyse(load_results(write_results(tmp_path / "a", across)), NO_PRICES).pairs
    assert pair.machines is not None and pair.machines.differ is True and pair.machines.text == "2 machine boots"
    assert any("2 machine boots" in n for n in pair.notes)

    one = [_run("hf", BOOT_A), _run("unsloth", BOOT_A, step=0.2)]
    (pair,) = analyse(load_results(write_results(tmp_path / "b", one)), NO_PRICES).pairs
    assert pair.machines.differ is False and not any("machine" in n for n in pair.notes)

    old = [_run("hf", None), _run("unsloth", None, step=0.2)]
    (pair,) = analyse(load_results(write_results(tmp_path / "c", old)), NO_PRICES).pairs
    assert pair.machines.differ is None and pair.machines.text.startswith("unknown")

    report = (build_report(write_results(tmp_path / "d", across)).markdown).read_text(encoding="utf-8")
    assert "its sides ran on 2 machine boots" in report


def test_the_report_shows_the_spread_between_repeats(tmp_path: Path) -> None:
    """Three repeats at 0.30, 0.33 and 0.43 s a step, the last on another boot: 1.43x apart."""
    runs = [
        _run("hf", BOOT_A, 0, 0.30),
        _run("hf", BOOT_A, 1, 0.33),
        _run("hf", BOOT_B, 2, 0.43),
    ]
    folder = write_results(tmp_path / "r", runs)
    (cell,) = analyse(load_results(folder), NO_PRICES).cells
    assert cell.spread is not None
    assert (cell.spread.low, cell.spread.high) == pytest.approx((0.30, 0.43))
    assert cell.spread.ratio == pytest.approx(0.43 / 0.30)
    assert cell.machines.text == "2 machine boots"
    report = build_report(folder).markdown.read_text(encoding="utf-8")
    assert "0.300 / 0.430 (1.43x)" in report and "2 machine boots" in report


def test_the_answer_says_when_its_leaders_ran_once_or_on_two_machines(tmp_path: Path) -> None:
    """The first choice ran once while another configuration's repeats lie 1.43x apart, and the two leaders ran
    on different boots: "What would change it" says both, so "first in 100%" is not read as settled."""
    from tests.report_fixtures import QWEN

    runs = [
        _run("hf", BOOT_A, 0, 0.30),
        _run("hf", BOOT_A, 1, 0.33),
        _run("hf", BOOT_A, 2, 0.43),
        make_run(QWEN, 16, steady=[0.10] * 20, burn=[0.1] * 2, env={"boot_id": BOOT_B}),
    ]
    folder = write_results(tmp_path / "r", runs)
    d = analyse(load_results(folder), NO_PRICES).decision
    text = " ".join(d.changes)
    assert "qwen2.5-1.5b-instruct r16 hf none ran once" in text and "lie up to 1.43x apart" in text
    assert "--cells cells.txt --repeats 3" in text  # how to repeat it, interleaved
    assert "ran on 2 machine boots: part of their difference may be the machines'" in text

    same = [*runs[:3], make_run(QWEN, 16, steady=[0.10] * 20, burn=[0.1] * 2, env={"boot_id": BOOT_A})]
    d = analyse(load_results(write_results(tmp_path / "s", same)), NO_PRICES).decision
    assert "ran once" in " ".join(d.changes) and "machine boots" not in " ".join(d.changes)


def test_repeats_are_planned_interleaved_in_configuration_order(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.sweep import plan

    spec = make_spec(
        {
            "name": "ab",
            "weights": "shape",
            "axes": {"candidates": ["llama1B", "gemma-2-2b-it"], "backends": ["hf", "unsloth"], "repeats": 3},
        },
        "ab",
    )
    requests = expand_sweep(spec, load_candidates())
    monkeypatch.setattr(plan, "data_sha256", lambda path: "d" * 64)
    planned, _ = plan.plan_runs(requests, "NVIDIA H200", 60)
    order = [(p.request.repeat, p.request.candidate.name, p.request.backend) for p in planned]
    one_round = [("llama1B", "hf"), ("llama1B", "unsloth"), ("gemma-2-2b-it", "hf"), ("gemma-2-2b-it", "unsloth")]
    assert order == [(rep, c, b) for rep in range(3) for c, b in one_round]
