"""Versions: the harness's own (the package's), its measurement version (part of every run key), and the
installed versions of other packages, read from their metadata without importing them. Bottom floor: the run
keys, the child's environment capture and the CLI's --version all read them here."""

from __future__ import annotations

from importlib import metadata

__version__ = "0.2.0"

# Bumped whenever a change moves measured figures (part of every run key, so old results are not mixed in).
# 2: the memory/power sampler runs in its own process (a thread took the GIL from launch-bound work).
# 3: burn-in at the timed batch, latency as its own stage, energy from NVML's counter, shape mode without the
#    scoring passes, shape-build memory released before the load phase, runs forked from a fork server.
# 4: the latency stage burns in once (its longest prompt), not once per prompt.
# 5: the sampler polls every 50 ms on a GPU, not every 5 ms (at which launch-bound steps and answers took 14-16%
#    longer: reports/sampler-ab-h200/).
MEASUREMENT_VERSION = "5"


def installed_versions(names: tuple[str, ...]) -> dict[str, str | None]:
    """Installed versions read from metadata (nothing is imported); None for a package that is absent."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
