"""notebooks/colab.ipynb: what it holds, and (slow) run top to bottom on the CPU with nbclient, as CI runs it.

The run injects a cell after the parameters cell (as papermill would): SMALL=True, a tiny model folder and
the fewest steps, prompts and tokens, so the whole notebook (kernel, install check, hub login skipped,
harness.bench, the report inline) takes well under a minute.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "colab.ipynb"


def _cells() -> list[dict]:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]


def test_the_notebook_has_a_parameters_cell_a_guarded_install_and_no_stored_outputs() -> None:
    nbformat = pytest.importorskip("nbformat")
    nbformat.validate(nbformat.read(NOTEBOOK, as_version=4))
    cells = _cells()
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1 and "SMALL = True" in "".join(params[0]["source"])
    install = next(s for s in code if "%pip install" in s)
    assert 'find_spec("harness") is None' in install and "torch==" in install  # skipped when importable; torch kept
    assert any("harness.bench(" in s for s in code) and any(s.strip() == "results" for s in code)
    assert any('"HF_TOKEN"' in s and "login(" in s for s in code)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in cells if c["cell_type"] == "code")


def test_the_install_cell_keeps_colabs_torch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Where harness is missing (Colab): the harness with --no-deps, then its dependencies and the [gpu] extra's,
    torch left out and held by a constraint at the version there (a stand-in CUDA build here)."""
    pytest.importorskip("IPython")
    import types
    from importlib import metadata

    from IPython.core.interactiveshell import InteractiveShell

    try:
        metadata.requires("lora-harness")
    except metadata.PackageNotFoundError:
        pytest.skip("lora-harness is not installed here (its metadata lists the dependencies)")
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(__version__="2.9.0+cu126"))
    shell = InteractiveShell.instance()
    calls: list[str] = []
    shell.register_magic_function(calls.append, magic_kind="line", magic_name="pip")
    source = next(s for s in ("".join(c["source"]) for c in _cells()) if "%pip install" in s)
    source = source.replace('importlib.util.find_spec("harness") is None', "True")  # as in Colab
    shell.run_cell('SOURCE = "git+https://example.org/lora-harness"')
    assert shell.run_cell(source).success
    assert calls[0] == 'install -q --no-deps "git+https://example.org/lora-harness"'
    deps = calls[-1]
    assert deps.startswith("install -q -c /tmp/keep-torch.txt ") and "'transformers==" in deps
    assert "'torch" not in deps and "extra ==" not in deps and "'bitsandbytes==" in deps and "'ray" not in deps
    assert Path("/tmp/keep-torch.txt").read_text() == "torch==2.9.0+cu126\n"


@pytest.mark.slow
def test_the_notebook_runs_top_to_bottom_on_the_cpu(tmp_path: Path, shape_cache: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from tests.test_own_machine import tiny_model_folder

    model = tiny_model_folder(tmp_path / "tiny-chat")
    results_root = tmp_path / "results"
    nb = nbformat.read(NOTEBOOK, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    settings = dict(ranks=[4], max_steps=2, train_rows=8, prompts=2, max_new_tokens=4, device="cpu",
                    results_root=str(results_root))  # fmt: skip
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(f"SMALL = True\nMODEL = {str(model)!r}\nSETTINGS = {settings!r}"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})  # fmt: skip
    client.execute()  # raises CellExecutionError (with the cell and its traceback) on any error

    def outputs(marker: str) -> list[dict]:
        return next(c.outputs for c in nb.cells if c.cell_type == "code" and c.source.strip().startswith(marker))

    (shown,) = [o for o in outputs("results") if o.output_type == "execute_result"]
    assert "<iframe srcdoc=" in shown.data["text/html"]
    table = next(o for o in outputs("# One row per run") if o.output_type == "execute_result").data["text/plain"]
    assert "adapter" in table and "ok" in table
    login = "".join(o.get("text", "") for o in outputs("# Hub login"))
    assert "no HF_TOKEN" in login  # skipped, not asked for
    (folder,) = results_root.iterdir()
    (run,) = [json.loads(p.read_text()) for p in (folder / "runs").glob("*.json")]
    assert run["status"] == "ok" and run["adapter"] and (folder / run["adapter"] / "adapter_config.json").is_file()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["command"].startswith(f"harness.bench(model={str(model)!r}, ranks=[4], ")


def test_the_readme_shows_the_notebook_and_the_api_next_to_make_bench() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## From a notebook (Colab) or Python", 1)[1].split("\n## ", 1)[0]
    assert text.index("make bench") < text.index("## From a notebook") < text.index("## On your own machine")
    assert "notebooks/colab.ipynb" in section and "harness.bench(" in section and "harness.report(" in section
