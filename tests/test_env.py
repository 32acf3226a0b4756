"""The environment a result records: the commit the caller names wins over a copied (maybe stale) .git."""

from __future__ import annotations

import pytest

from harness.child import env
from harness.fmt import machine_paths_out


def test_harness_git_sha_wins_over_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_GIT_SHA", "fe9cb85")
    assert env.git_state() == ("fe9cb85", None)  # seen on the GPU machine: its .git was the session's first commit
    monkeypatch.delenv("HARNESS_GIT_SHA")
    sha, _ = env.git_state()
    assert sha is None or len(sha) == 40


def test_published_logs_lose_the_machines_folders() -> None:
    line = "/work/main/.site/torchao/quantization/quant_api.py:1542: SyntaxWarning: invalid escape sequence"
    assert machine_paths_out(line).startswith(".site/torchao/quantization/quant_api.py:1542")
    assert machine_paths_out('File "/opt/venv/lib/site-packages/torch/a.py"') == 'File "site-packages/torch/a.py"'
    assert machine_paths_out("plain text, no path") == "plain text, no path"
