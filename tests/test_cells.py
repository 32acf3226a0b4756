"""bench --spec S --cells FILE: the configurations `lora-harness deciding` prints, in one sweep, interleaved round by
round with --repeats; bad lines are one error naming the file and line, before anything is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness import cli

SPEC = "benchmarks/seed-study.yaml"


class Planned(Exception):
    """Raised by the stand-in sweep: the requests the preflight passed on, nothing run."""

    def __init__(self, spec: Any, requests: list[Any]) -> None:
        self.spec, self.requests = spec, requests


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real CLI and preflight up to the sweep; no weights fetched, no run started."""

    def stop(spec: Any, requests: list[Any], options: Any) -> None:
        raise Planned(spec, requests)

    monkeypatch.setattr("harness.preflight.check_weights", lambda requests, access=None: [])
    monkeypatch.setattr("harness.sweep.run_sweep", stop)


def _cells(tmp_path: Path, *lines: str) -> str:
    f = tmp_path / "cells.txt"
    f.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(f)


def _plan(argv: list[str]) -> Planned:
    with pytest.raises(Planned) as got:
        cli.main(["bench", "--spec", SPEC, *argv])
    return got.value


def test_the_lines_configurations_run_interleaved_round_by_round(tmp_path: Path, planned: None) -> None:
    # saved on Windows: a byte-order mark and CRLF line ends
    cells = _cells(tmp_path, "\ufeff# from lora-harness deciding\r", "--model llama1B --ranks 16 --backends hf --quants none\r",
                   "", "--model FinguAI-Chat-v1 --ranks 32 64", "--model llama1B --ranks 64")  # fmt: skip
    p = _plan(["--cells", cells, "--repeats", "2", "--results-root", str(tmp_path / "res")])
    labels = [r.label for r in p.requests]
    one_round = ["llama1B r16 hf none shape", "llama1B r64 hf none shape",
                 "FinguAI-Chat-v1 r32 hf none shape", "FinguAI-Chat-v1 r64 hf none shape"]  # fmt: skip
    assert labels == one_round + [f"{x} #2" for x in one_round]  # A B C D A B C D: not r32 of llama1B, nor r16 of Fingu
    assert p.spec.name == "seed-study" and p.spec.axes.repeats == 2  # the spec's folder, settings and job
    assert {r.train.epochs for r in p.requests} == {10}


def test_a_hub_id_line_matches_the_candidate_it_resolves_to(tmp_path: Path, planned: None, monkeypatch) -> None:
    """`--model org/Name` becomes a candidate named `Name`: the line still names its runs."""
    from harness import preflight
    from harness.config import load_candidates

    real = preflight.resolve_candidates

    def renamed(refs: Any, candidates: Any, mode: str, trust: bool = False) -> Any:
        out = real([r.split("/")[-1] for r in refs], candidates, mode, trust)
        out.refs = {ref: out.refs[ref.split("/")[-1]] for ref in refs}
        return out

    monkeypatch.setattr(preflight, "resolve_candidates", renamed)
    assert load_candidates().get("llama1B")
    p = _plan(["--cells", _cells(tmp_path, "--model org/llama1B --ranks 16"), "--results-root", str(tmp_path)])
    assert [r.label for r in p.requests] == ["llama1B r16 hf none shape"]


@pytest.mark.parametrize(
    ("lines", "argv", "says"),
    [
        (["--model llama1B --ranks x"], [], "cells.txt line 1: argument --ranks: invalid int value: 'x'"),
        (["--model llama1B", "--data other.csv"], [], "cells.txt line 2: unrecognized arguments: --data other.csv"),
        (["--ranks 16"], [], "cells.txt line 1: no --model"),
        (["# nothing"], [], "cells.txt: no configuration in it"),
        (["--model llama1B --backends torch"], [], "cells.txt line 1: argument --backends: invalid choice"),
        (["--model llama1B"], ["--ranks", "16"], "give the configurations either in the file or as --model"),
        (["--model no-such-model"], [], "unknown candidate 'no-such-model'"),
    ],
)
def test_bad_cells_are_one_line_errors_and_nothing_is_written(
    tmp_path: Path, planned: None, capsys: pytest.CaptureFixture[str], lines: list[str], argv: list[str], says: str
) -> None:
    results = tmp_path / "res"
    code = cli.main(
        ["bench", "--spec", SPEC, "--cells", _cells(tmp_path, *lines), *argv, "--results-root", str(results)]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and says in err and "\n" not in err, err
    assert not results.exists()


def test_unreadable_or_unquotable_files_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    binary = tmp_path / "cells.bin"
    binary.write_bytes(b"\xff\xfe\x00--model")
    assert cli.main(["bench", "--spec", SPEC, "--cells", str(binary), "--results-root", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "cells.bin: cannot read it as UTF-8 text" in err and "\n" not in err
    quote = _cells(tmp_path, "--model 'llama1B")
    assert cli.main(["bench", "--spec", SPEC, "--cells", quote, "--results-root", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert "cells.txt line 1: No closing quotation" in err and "\n" not in err
    assert not (tmp_path / "r").exists()


def test_cells_need_a_spec_and_an_existing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--cells", _cells(tmp_path, "--model llama1B")]) == 2
    assert "give it with --spec" in capsys.readouterr().err
    assert cli.main(["bench", "--spec", SPEC, "--cells", str(tmp_path / "none.txt")]) == 2
    assert "none.txt: file not found" in capsys.readouterr().err


def test_a_line_with_a_value_the_spec_refuses_names_the_line(tmp_path: Path, planned: None, capsys) -> None:
    code = cli.main(["bench", "--spec", SPEC, "--cells", _cells(tmp_path, "--model llama1B --ranks 0"),
                     "--results-root", str(tmp_path / "res")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "cells.txt line 1" in err, err


def test_setting_axes_in_lines_narrow_too(tmp_path: Path, planned: None) -> None:
    """`deciding` adds a varied setting's flag (--batch-sizes 2): the union grid is narrowed to the lines' own."""
    cells = _cells(tmp_path, "--model llama1B --ranks 16 --batch-sizes 2", "--model llama1B --ranks 64 --batch-sizes 8")
    p = _plan(["--cells", cells, "--results-root", str(tmp_path / "res")])
    assert [(r.lora.rank, r.train.batch_size) for r in p.requests] == [(16, 2), (64, 8)]
    assert all("batch_size" in r.varied for r in p.requests)  # named apart in labels and file names
