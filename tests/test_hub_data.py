"""DATA=org/name[:split]: a hub data set through datasets.load_dataset, offline, from a Hugging Face cache layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness import cli, data
from harness.config import DataSettings, expand_sweep, load_candidates, make_spec
from harness.errors import UserError
from harness.keys import data_sha256, run_key

SHA_1 = "1" * 40
SHA_2 = "2" * 40
PACKAGES = {"torch": "2.11.0"}


def _hub_dataset(cache: Path, repo: str, sha: str, rows: list[dict[str, Any]], file: str = "train.jsonl") -> None:
    """A data set repository as huggingface_hub caches it: refs/main -> snapshots/<sha>/<files>."""
    root = cache / f"datasets--{repo.replace('/', '--')}"
    snap = root / "snapshots" / sha
    snap.mkdir(parents=True, exist_ok=True)
    (snap / file).write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(sha, encoding="utf-8")


def _rows(n: int = 30, tag: str = "") -> list[dict[str, Any]]:
    return [{"q": f"질문 {i}{tag}?", "a": f"답 {i}{tag}", "idx": f"r{i}"} for i in range(n)]


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    monkeypatch.chdir(tmp_path)
    data._HUB_LOADS.clear()
    return cache


def _spec(path: str, columns: dict[str, str] | None = None) -> Any:
    d: dict[str, Any] = {"path": path, "train_rows": 4, "eval_rows": 2}
    if columns:
        d["columns"] = columns
    return make_spec({"name": "s", "weights": "shape", "axes": {"candidates": ["llama1B"]}, "base": {"data": d}}, "s")


def test_a_hub_data_set_loads_from_the_cache_with_a_column_mapping(hub: Path) -> None:
    _hub_dataset(hub, "team/qa", SHA_1, _rows())
    loaded = data.load_data(DataSettings(path="team/qa", columns={"question": "q", "answer": "a", "id": "idx"}))
    assert loaded.revision == SHA_1 and loaded.where == "team/qa:train"
    assert len(loaded.examples) == 30
    assert (loaded.examples[3].id, loaded.examples[3].question, loaded.examples[3].answer) == ("r3", "질문 3?", "답 3")


def test_the_revision_is_pinned_in_each_request_and_moves_the_key(hub: Path) -> None:
    """The preflight resolves the commit once; it is in every request (so in the result) and in the run key."""
    _hub_dataset(hub, "team/qa", SHA_1, _rows())
    spec = _spec("team/qa:train", {"question": "q", "answer": "a"})
    reqs = cli._preflight(spec, "s")
    assert {r.data.revision for r in reqs} == {SHA_1} and reqs[0].data.path == "team/qa:train"
    assert reqs[0].data.columns == {"question": "q", "answer": "a"}
    key_1 = run_key(reqs[0], data_sha256(reqs[0].data.path), PACKAGES, None)
    assert reqs[0].key_fields()["data"]["revision"] == SHA_1
    # the data set gets a new commit: the same command is a new run
    _hub_dataset(hub, "team/qa", SHA_2, _rows(tag="!"))
    data._HUB_LOADS.clear()
    (req_2,) = cli._preflight(spec, "s")
    assert req_2.data.revision == SHA_2
    assert run_key(req_2, data_sha256(req_2.data.path), PACKAGES, None) != key_1
    # an explicit revision loads that commit
    (req_1,) = cli._preflight(_spec("team/qa", {"question": "q", "answer": "a"}).model_copy(
        update={"base": {"data": {"path": "team/qa", "revision": SHA_1, "columns": {"question": "q", "answer": "a"},
                                  "train_rows": 4, "eval_rows": 2}}}), "s")  # fmt: skip
    assert req_1.data.revision == SHA_1


def test_a_local_file_keeps_its_key_and_wins_over_a_hub_id(hub: Path) -> None:
    req = expand_sweep(_spec("data/sample_qa.csv"), load_candidates())[0]
    assert "revision" not in req.key_fields()["data"] and "columns" not in req.key_fields()["data"]
    _hub_dataset(hub, "team/qa", SHA_1, _rows())
    (hub.parent / "team").mkdir()
    (hub.parent / "team" / "qa").write_text("index,data_type,input_data,output_data\n", encoding="utf-8")
    assert data.hub_ref("team/qa") is None
    with pytest.raises(UserError, match="cannot tell the data format from the extension"):  # read as the local file
        data.load_data(DataSettings(path="team/qa"))
    assert data.hub_ref("team/other:test") == data.HubRef("team/other", "test")
    assert data.hub_ref("data/missing.csv") is None  # a missing file stays a missing file


def test_known_formats_and_usual_column_names_need_no_mapping() -> None:
    alpaca = [{"instruction": "번역해", "input": "hello", "output": "안녕"}]
    (ex,) = data.hub_examples(alpaca, "o/n:train", "auto", {})
    assert (ex.question, ex.answer) == ("번역해\nhello", "안녕")
    squad = [
        {
            "id": "k1",
            "context": "서울은 수도다",
            "question": "수도는?",
            "answers": {"text": ["서울"], "answer_start": [0]},
        }
    ]
    (ex,) = data.hub_examples(squad, "o/n:train", "auto", {})
    assert (ex.id, ex.context, ex.answer, ex.key_phrase) == ("k1", "서울은 수도다", "서울", "서울")
    plain = [{"prompt": "p?", "response": "r.", "data_type": "valid"}]
    (ex,) = data.hub_examples(plain, "o/n:train", "auto", {})
    assert (ex.question, ex.answer, ex.split) == ("p?", "r.", "valid")
    mapped = data.hub_examples(alpaca, "o/n:train", "auto", {"question": "instruction", "context": "input"})
    assert (mapped[0].question, mapped[0].context, mapped[0].answer) == ("번역해", "hello", "안녕")


@pytest.mark.parametrize(
    ("columns", "expect"),
    [
        ({}, "cannot tell which column is the question (columns: q, a, idx); map them with --data-columns"),
        ({"question": "q", "answer": "nope"}, "no column 'nope' for answer (columns: q, a, idx)"),
    ],
)
def test_columns_it_cannot_find_are_named(columns: dict[str, str], expect: str) -> None:
    with pytest.raises(UserError, match=expect.replace("(", r"\(").replace(")", r"\)")):
        data.hub_examples(_rows(2), "o/n:train", "auto", columns)


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str], out: Path) -> tuple[int, str]:
    code = cli.main([*argv, "--results-root", str(out)])
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize(
    ("argv", "expect"),
    [
        (["--data", "nobody/none"], "nobody/none:train: no local file of that name, and data set nobody/none is not "
                                    "in the Hugging Face cache"),
        (["--data", "team/qa:test", "--data-columns", "question=q,answer=a"], "cannot read split 'test'"),
        (["--data", "team/qa"], "team/qa:train: cannot tell which column is the question"),
        (["--data", "team/qa", "--data-columns", "question=q,reply=a"], "--data-columns: 'reply=a' is not ROLE=COLUMN"),
        (["--data-columns", "question=q,answer=a"], "data.columns (--data-columns) maps a hub data set's columns"),
        (["--data", "team/qa", "--data-columns", "question=q,answer=a", "--train-rows", "40"],
         "team/qa:train: asked for 40 train"),
    ],
)  # fmt: skip
def test_bad_hub_data_is_one_line_exit_2_nothing_written(
    hub: Path, argv: list[str], expect: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _hub_dataset(hub, "team/qa", SHA_1, _rows())
    out = hub.parent / "results"
    code, err = _cli(["bench", "--model", "llama1B", "--weights", "shape", *argv], capsys, out)
    assert code == 2 and err.startswith("error: ") and expect in err and "\n" not in err and "Traceback" not in err
    assert not out.exists()


def test_an_unreachable_hub_and_an_unknown_id_online(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr("harness.weights.hub.hub_reachable", lambda: False)
    with pytest.raises(UserError, match=r"team/none:train: .* the hub \(.*\) cannot be reached"):
        data.load_data(DataSettings(path="team/none"))

    def snapshot_download(repo: str, **kw: Any) -> str:
        if kw.get("local_files_only"):
            raise LocalEntryNotFoundError("not cached")
        raise RepositoryNotFoundError("404", response=httpx.Response(404, request=httpx.Request("GET", "https://h")))

    monkeypatch.setattr("harness.weights.hub.hub_reachable", lambda: True)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    with pytest.raises(UserError, match=r"no data set 'team/none' on the hub \(.*/datasets/team/none\)"):
        data.load_data(DataSettings(path="team/none"))


def test_a_download_is_the_normal_hub_resolution(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not in the cache and online: huggingface_hub downloads it (here: writes the cache layout), then it loads."""
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr("harness.weights.hub.hub_reachable", lambda: True)
    calls: list[dict[str, Any]] = []

    def snapshot_download(repo: str, **kw: Any) -> str:
        calls.append(kw)
        if kw.get("local_files_only"):
            raise LocalEntryNotFoundError("not cached")
        _hub_dataset(Path(kw["cache_dir"]), repo, SHA_2, _rows())
        return str(Path(kw["cache_dir"]) / f"datasets--{repo.replace('/', '--')}" / "snapshots" / SHA_2)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    loaded = data.load_data(DataSettings(path="team/fresh", columns={"question": "q", "answer": "a"}))
    assert loaded.revision == SHA_2 and len(loaded.examples) == 30
    assert [c.get("local_files_only", False) for c in calls] == [True, False]
    assert all(c["repo_type"] == "dataset" and Path(c["cache_dir"]) == hub for c in calls)
