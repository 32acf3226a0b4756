from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_CSV = REPO.parent / "shared" / "data" / "OhLoRA_fine_tuning.csv"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Shape-mode builds go to a per-session cache; the real SmolLM2 conversion keeps the user's cache."""
    os.environ.setdefault("HARNESS_TEST_CACHE", str(tmp_path_factory.mktemp("harness-cache")))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # the sweeps' temp folders (the fork server's) in the session's own: a sweep cleans up what killed sweeps
    # left in its temp folder, and a test must not touch the machine's
    tmp = tmp_path_factory.mktemp("tmp")
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = str(tmp)


@pytest.fixture
def shape_cache(monkeypatch: pytest.MonkeyPatch) -> Path:
    path = Path(os.environ["HARNESS_TEST_CACHE"])
    monkeypatch.setenv("HARNESS_CACHE", str(path))
    return path
