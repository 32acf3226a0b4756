"""`lora-harness fits --model org/name`: the config the normal hub way (cache first, else downloaded)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from tests.tiny import TINY

LLAMA = {"model_type": "llama", **TINY["llama"]["config"]}
SHA = "c" * 40
ARGS = ["--rank", "8", "--batch", "2", "--max-length", "64", "--gpu", "T4"]


def _cache_config(cache: Path, repo: str) -> Path:
    """config.json as huggingface_hub caches it: refs/main -> snapshots/<sha>/config.json."""
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "snapshots" / SHA).mkdir(parents=True, exist_ok=True)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(SHA, encoding="utf-8")
    path = root / "snapshots" / SHA / "config.json"
    path.write_text(json.dumps(LLAMA), encoding="utf-8")
    return path


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    c = tmp_path / "hub"
    c.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(c))
    return c


def test_a_config_not_in_the_cache_is_downloaded(
    cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("harness.weights.hub.hub_reachable", lambda: True)
    calls: list[tuple[str, str, bool]] = []

    def hf_hub_download(repo: str, filename: str, **kw: Any) -> str:
        local = bool(kw.get("local_files_only"))
        calls.append((repo, filename, local))
        path = Path(kw["cache_dir"]) / f"models--{repo.replace('/', '--')}" / "snapshots" / SHA / filename
        if local and not path.is_file():
            raise LocalEntryNotFoundError("not cached")
        return str(path if local else _cache_config(Path(kw["cache_dir"]), repo))  # the "download"

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    assert main(["fits", "--model", "someorg/tiny-llama", *ARGS]) == 0
    out = capsys.readouterr().out
    assert "someorg/tiny-llama (config downloaded from the hub)" in out and "Tesla T4" in out
    assert calls[:2] == [("someorg/tiny-llama", "config.json", True), ("someorg/tiny-llama", "config.json", False)]
    assert all(local for _, _, local in calls[2:])  # transformers then reads it from the cache
    # the second time it is in the cache: no download
    calls.clear()
    assert main(["fits", "--model", "someorg/tiny-llama", *ARGS]) == 0
    assert "(config from the Hugging Face cache)" in capsys.readouterr().out
    assert calls and all(local for _, _, local in calls)


def test_offline_reads_the_cache_only(
    cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _cache_config(cache, "someorg/cached")
    assert main(["fits", "--model", "someorg/cached", *ARGS]) == 0
    assert "someorg/cached (config from the Hugging Face cache)" in capsys.readouterr().out
    assert main(["fits", "--model", "someorg/elsewhere", *ARGS]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --model someorg/elsewhere: not a candidate") and "\n" not in err
    assert "HF_HUB_OFFLINE=1 is set" in err


def test_an_unknown_id_and_an_unreachable_hub_are_one_line(
    cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import httpx
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("harness.weights.hub.hub_reachable", lambda: False)
    assert main(["fits", "--model", "someorg/none", *ARGS]) == 2
    assert "cannot be reached" in capsys.readouterr().err

    def hf_hub_download(repo: str, filename: str, **kw: Any) -> str:
        if kw.get("local_files_only"):
            raise LocalEntryNotFoundError("not cached")
        raise RepositoryNotFoundError("404", response=httpx.Response(404, request=httpx.Request("GET", "https://h")))

    monkeypatch.setattr("harness.weights.hub.hub_reachable", lambda: True)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    assert main(["fits", "--model", "someorg/none", *ARGS]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --model someorg/none: no model 'someorg/none' on the hub") and "\n" not in err
