"""What installing the harness brings: declared dependencies, the extras, and what the Makefile sets up."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from harness.backends import REGISTRY

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _dist(spec: str) -> str:
    """'ray[default]>=2.9' -> 'ray'; names compared the way pip does (case, '-' and '_')."""
    name = re.split(r"[\[<>=!~;@ ]", spec.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = PYPROJECT["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += extra
    return {_dist(s) for s in specs}


def _imported_top_modules() -> set[str]:
    names: set[str] = set()
    for path in (REPO / "harness").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "harness"}


def test_every_imported_package_is_declared() -> None:
    by_module = metadata.packages_distributions()
    declared = _declared()
    # installed with a declared package, never imported on their own: torch brings triton, transformers brings
    # safetensors, jinja2 brings markupsafe, huggingface_hub brings httpx; a module not installed here belongs to an extra's
    # package (unsloth, liger_kernel, bitsandbytes, ray), which the extras' own test covers
    brought = {"triton", "safetensors", "markupsafe", "httpx", "packaging", "filelock", "unsloth_zoo"}
    missing = []
    for module in sorted(_imported_top_modules()):
        dists = {_dist(d) for d in by_module.get(module, [])}
        if not dists or module in brought:
            continue
        if not dists & declared:
            missing.append(f"{module} ({', '.join(sorted(dists))})")
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
    assert {"numpy", "huggingface-hub"} <= declared


def test_the_gpu_extra_carries_every_backends_own_packages() -> None:
    gpu = {_dist(s): s for s in PYPROJECT["project"]["optional-dependencies"]["gpu"]}
    for backend in REGISTRY.values():
        for spec in backend.site_packages:  # what `make site` carries to the GPU machine, pinned
            assert gpu.get(_dist(spec)) == spec, f"[gpu] lacks {spec} ({backend.name})"


def _make(*args: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, **(env or {})}, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout


needs_make = pytest.mark.skipif(subprocess.run(["which", "make"], capture_output=True).returncode != 0,
                                reason="no make")  # fmt: skip


@needs_make
def test_ray_is_installed_for_the_tests_only() -> None:
    bench = _make("-n", "-B", "bench")  # -B: every recipe printed, whatever stamps exist
    assert '-e ".[dev]"' in bench and "ray" not in bench
    test = _make("-n", "-B", "test")
    assert '-e ".[dev,ray]"' in test and "pytest" in test


@needs_make
def test_python_only_picks_the_interpreter() -> None:
    """`make bench PYTHON=...` (Colab's own Python) sets no offline mode and no path of this repo's GPU machine."""
    show = "sh -c 'echo OFFLINE=$${HF_HUB_OFFLINE-unset} PATHS=$${PYTHONPATH-unset} STATS=$${UNSLOTH_DISABLE_STATISTICS-unset}' sh"
    env = {
        k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "PYTHONPATH", "UNSLOTH_DISABLE_STATISTICS")
    }
    out = subprocess.run(["make", "--no-print-directory", "-s", "bench", f"PYTHON={show}"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["OFFLINE=unset", "PATHS=unset", "STATS=unset"], out.stdout


def test_the_gpu_machines_environment_lives_in_its_session_script() -> None:
    script = (REPO / "benchmarks" / "gpu-session.sh").read_text(encoding="utf-8")
    assert "HF_HUB_OFFLINE=1" in script and "$PWD/.site" in script and 'exec "$@"' in script
    assert "HF_HUB_OFFLINE" not in (REPO / "Makefile").read_text(encoding="utf-8").split("SHELL :=", 1)[1]
