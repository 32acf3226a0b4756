"""`lora-harness report FOLDER --push-to-hub org/name`, against a stand-in for the hub (huggingface_hub.HfApi)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import harness
from harness.cli import main
from tests.report_fixtures import make_results_folder


class FakeHub:
    """Records the calls; `fail` raises from create_repo as the network or the hub would."""

    calls: list[tuple[str, dict[str, Any]]]
    fail: Exception | None = None

    def __init__(self, token: Any = None) -> None:
        pass

    def create_repo(self, repo_id: str, **kw: Any) -> str:
        FakeHub.calls.append(("create_repo", {"repo_id": repo_id, **kw}))
        if FakeHub.fail is not None:
            raise FakeHub.fail
        return f"https://huggingface.co/datasets/{repo_id}"

    def upload_folder(self, **kw: Any) -> None:
        FakeHub.calls.append(("upload_folder", kw))


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> type[FakeHub]:
    import huggingface_hub

    FakeHub.calls, FakeHub.fail = [], None
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHub)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_test")
    return FakeHub


def _uploaded(folder: Path, kw: dict[str, Any]) -> list[str]:
    """What upload_folder would send: the folder's files through the hub library's own pattern filter."""
    from huggingface_hub.utils import filter_repo_objects

    files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    return sorted(filter_repo_objects(files, allow_patterns=kw["allow_patterns"]))


def test_the_report_and_its_result_files_go_up_as_a_data_set(tmp_path: Path, hub: type[FakeHub], capsys) -> None:
    folder = make_results_folder(tmp_path / "r", "real")
    for junk in ("logs/x.log", "scratch/x/request.json", "adapters/x/adapter_model.safetensors", "cache/c.bin"):
        (folder / junk).parent.mkdir(parents=True, exist_ok=True)
        (folder / junk).write_text("not uploaded")
    assert main(["report", str(folder), "--push-to-hub", "my-team/lora-study"]) == 0
    (create, kw), (upload, up) = hub.calls
    assert (create, kw) == ("create_repo", {"repo_id": "my-team/lora-study", "repo_type": "dataset", "exist_ok": True})
    assert upload == "upload_folder" and up["repo_id"] == "my-team/lora-study" and up["repo_type"] == "dataset"
    assert Path(up["folder_path"]) == folder
    sent = _uploaded(folder, up)
    runs = sorted(f"runs/{p.name}" for p in (folder / "runs").glob("*.json"))
    assert {"results.csv", "report.html", "report.md", *runs} <= set(sent) and runs
    assert not [f for f in sent if f.split("/")[0] in ("logs", "scratch", "adapters", "cache")]
    assert "pushed: https://huggingface.co/datasets/my-team/lora-study" in capsys.readouterr().out


@pytest.mark.parametrize("why", ["no token", "network", "refused"])
def test_a_failed_upload_is_one_line_and_the_report_is_still_written(tmp_path: Path, hub: type[FakeHub],
                                                                     monkeypatch: pytest.MonkeyPatch, capsys,
                                                                     why: str) -> None:  # fmt: skip
    import httpx
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError

    folder = make_results_folder(tmp_path / "r", "real")
    if why == "no token":
        monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    elif why == "network":
        hub.fail = httpx.ConnectError("[Errno -3] Temporary failure in name resolution")
    else:
        response = httpx.Response(403, request=httpx.Request("POST", "https://huggingface.co/api/repos/create"))
        hub.fail = HfHubHTTPError("403 Forbidden", response=response)
    assert main(["report", str(folder), "--push-to-hub", "my-team/lora-study"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --push-to-hub my-team/lora-study: ")
    assert str(folder / "report.html") in err[0] and (folder / "report.html").is_file()
    expected = {"no token": "hf auth login", "network": "ConnectError", "refused": "write access"}[why]
    assert expected in err[0]
    assert not [c for c in hub.calls if c[0] == "upload_folder"]


def test_a_bad_repo_id_is_refused_before_anything(tmp_path: Path, hub: type[FakeHub], capsys) -> None:
    folder = make_results_folder(tmp_path / "r", "real")
    (folder / "report.html").unlink(missing_ok=True)
    assert main(["report", str(folder), "--push-to-hub", "not a repo id"]) == 2
    assert "not a hub repo id" in capsys.readouterr().err and not hub.calls
    assert not (folder / "report.html").exists()


def test_the_python_report_pushes_too(tmp_path: Path, hub: type[FakeHub]) -> None:
    folder = make_results_folder(tmp_path / "r", "real")
    got = harness.report(folder, push_to_hub="my-team/lora-study")
    assert got.files.html.is_file() and [c[0] for c in hub.calls] == ["create_repo", "upload_folder"]
