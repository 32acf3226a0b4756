"""Ships the project's own files as package data: candidates.yaml, benchmarks/*.yaml and data/ stay at the
repository root (the layout people read), and the wheel carries a copy in harness/_project/, which
harness/project.py finds through importlib.resources. Everything else is in pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("candidates.yaml", "benchmarks/*.yaml", "data/*")  # globs from the repository root


class BuildWithProjectFiles(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the source tree itself
        dest = Path(self.build_lib) / "harness" / "_project"
        shutil.rmtree(dest, ignore_errors=True)
        for pattern in SHIPPED:
            for src in sorted(ROOT.glob(pattern)):
                if src.is_file():
                    target = dest / src.relative_to(ROOT)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, target)
        if not (dest / "candidates.yaml").is_file():
            raise SystemExit(f"setup.py: {ROOT / 'candidates.yaml'} not found; build from the repository root")


setup(cmdclass={"build_py": BuildWithProjectFiles})
