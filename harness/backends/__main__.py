"""`python -m harness.backends`: the registered backends; `--site-packages`: pip specs for `make site`."""

from __future__ import annotations

import sys

from harness.backends import REGISTRY


def main(argv: list[str]) -> int:
    if "--site-packages" in argv:
        print(" ".join(sorted({p for b in REGISTRY.values() for p in b.site_packages})))
        return 0
    for b in REGISTRY.values():
        print(f"{b.name:<8} {b.description}; quants: {', '.join(b.quants)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
