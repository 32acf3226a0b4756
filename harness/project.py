"""Where the project's own files are: `candidates.yaml`, `benchmarks/*.yaml`, `data/` (the sample data).

In a source tree (a clone, or `pip install -e .`) they sit beside the `harness` package. In an
installed wheel (`pip install .`) the same files are package data, copied into `harness/_project/`
by the build (setup.py) and found through importlib.resources. Results never go here: they go to
`./results` under the current directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PACKAGED = "_project"  # folder inside the installed package that holds the shipped files
SHIPPED = ("candidates.yaml", "benchmarks", "data")


def source_root() -> Path | None:
    """The source tree's root when the package runs from one (it has candidates.yaml beside harness/)."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "candidates.yaml").is_file() and (root / "benchmarks").is_dir() else None


def project_root() -> Path:
    """The folder holding candidates.yaml, benchmarks/ and data/: the source tree, else the package data."""
    src = source_root()
    if src is not None:
        return src
    # Wheels install as plain folders, so the resource is a real path.
    return Path(str(resources.files("harness").joinpath(PACKAGED)))
