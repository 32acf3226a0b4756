"""A real install: a wheel built from the repository, installed into a fresh virtual environment, run from a
directory that is not the repository.

The fresh environment sees this one's site-packages through a .pth file (torch and the rest are not
downloaded again), but not its editable install of the harness: `import harness` there is the wheel's
copy, and candidates.yaml, the shipped specs and the sample data come from its package data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _tree_copy(dest: Path) -> Path:
    """The files a clone would have (tracked and new, nothing git ignores): no stale build/ folder."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    for name in filter(None, out.split("\0")):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{cmd}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def test_wheel_installs_and_runs_from_another_directory(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    src = _tree_copy(tmp_path / "src")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q", "-w",
          str(wheels)], tmp_path, env)  # fmt: skip
    (wheel,) = wheels.glob("lora_harness-*.whl")
    t_wheel = time.perf_counter() - t0

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    py = venv / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path,
                     env).stdout.strip())  # fmt: skip
    (site / "outer-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch & co., not the harness
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)], tmp_path, env)
    t_install = time.perf_counter() - t0

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**env, "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}",
           "COLUMNS": "200", "HF_HOME": str(tmp_path / "hf")}  # fmt: skip
    where = json.loads(_run([str(py), "-c", "import json, harness, harness.project as p; print(json.dumps("
                             "[harness.__file__, str(p.project_root())]))"], work, env).stdout)  # fmt: skip
    assert str(site) in where[0] and where[1] == str(site / "harness" / "_project")  # the wheel's copy
    exe = str(venv / "bin" / "lora-harness")
    assert _run([exe, "--version"], work, env).stdout.startswith("lora-harness ")
    listed = _run([exe, "list"], work, env).stdout
    assert "gemma-2-2b-it" in listed and "smollm2-135m" in listed
    t1 = time.perf_counter()
    bench = _run([exe, "bench", "--ranks", "16", "--max-steps", "2", "--prompts", "2", "--max-new-tokens", "8"],
                 work, env, timeout=900)  # fmt: skip
    t_bench = time.perf_counter() - t1
    runs = list((work / "results" / "cpu-default" / "runs").glob("*.json"))
    assert len(runs) == 1 and json.loads(runs[0].read_text())["status"] == "ok", bench.stdout[-2000:]
    assert (work / "results" / "cpu-default" / "report.html").is_file()
    assert not (site / "harness" / "_project" / "results").exists()  # results under the current directory
    print(f"wheel {t_wheel:.1f} s, + venv and install {t_install - t_wheel:.1f} s, 2-step bench {t_bench:.1f} s, "
          f"all {time.perf_counter() - t0:.1f} s")  # fmt: skip
