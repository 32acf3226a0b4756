"""report.html in a real browser: headless Chromium loads it offline, shows the ranking table and the plots.

Needs the Debian package `chromium` (`apt-get install -y chromium`). Skipped where it is missing,
except under CI (env CI set), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness.report import build_report
from tests.report_fixtures import make_results_folder

pytestmark = pytest.mark.slow

BROWSERS = ("chromium", "chromium-browser")
TIMEOUT_S = 120
# matplotlib's default line colours (tab10): the page's own CSS uses none of them
PLOT_COLORS = ((0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E), (0x2C, 0xA0, 0x2C), (0xD6, 0x27, 0x28), (0x94, 0x67, 0xBD))


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("CI: chromium is not installed; install it with: apt-get update && apt-get install -y chromium")
    pytest.skip("chromium not installed (apt-get install -y chromium); the browser check runs in CI")


def _chromium(browser: str, *args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            *args,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("browser")
    folder = make_results_folder(base / "sweep", "mixed", xss=True)
    return build_report(folder).html


def _screenshot(browser: str, html: Path, png: Path, height: int) -> None:
    proc = _chromium(browser, f"--screenshot={png}", f"--window-size=1280,{height}", html.as_uri())
    assert png.exists(), f"no screenshot (rc {proc.returncode}): {proc.stderr[-2000:]}"


def test_screenshot_is_not_blank_and_shows_ranking_and_plots(report: Path, tmp_path: Path) -> None:
    from PIL import Image

    browser = _browser()
    png = tmp_path / "report.png"
    _screenshot(browser, report, png, 2000)
    img = Image.open(png).convert("RGB")
    assert img.size == (1280, 2000)
    counts = img.getcolors(maxcolors=1 << 22) or []
    non_white = sum(n for n, rgb in counts if min(rgb) < 235) / (img.width * img.height)
    colors = len(counts)
    assert non_white > 0.05, f"page looks blank ({non_white:.1%} non-white pixels)"
    assert colors > 50, f"page looks blank ({colors} colours)"
    # the answer, the ranking table's first row (light green) and the shape banner (amber) are on the first screen
    assert _count_near(img, (0xE3, 0xF4, 0xE1)) > 2000, "ranking table's first row not visible"
    assert _count_near(img, (0xFF, 0xF3, 0xCD)) > 2000, "shape-mode banner not visible"
    # a taller window reaches the plots: their line colours are drawn (the images decoded)
    tall = tmp_path / "tall.png"
    _screenshot(browser, report, tall, 6000)
    drawn = sum(_count_near(Image.open(tall).convert("RGB"), c, tol=12) for c in PLOT_COLORS)
    assert drawn > 500, "no plot pixels: the embedded images did not render"


def _count_near(img: object, rgb: tuple[int, int, int], tol: int = 4) -> int:
    r0, g0, b0 = rgb
    colors = img.getcolors(maxcolors=1 << 22) or []  # type: ignore[attr-defined]
    return sum(n for n, (r, g, b) in colors if abs(r - r0) <= tol and abs(g - g0) <= tol and abs(b - b0) <= tol)


def test_dom_has_the_ranking_table_and_embedded_plots(report: Path) -> None:
    browser = _browser()
    proc = _chromium(browser, "--dump-dom", report.as_uri())
    dom = proc.stdout
    assert proc.returncode == 0 and "</html>" in dom, proc.stderr[-2000:]
    assert '<table class="ranking">' in dom
    ranking = dom[dom.index('<table class="ranking">') :]
    assert len(re.findall(r"<tr", ranking[: ranking.index("</table>")])) >= 4
    imgs = re.findall(r'<img [^>]*src="([^"]+)"', dom)
    assert len(imgs) >= 4 and all(src.startswith("data:image/png;base64,") for src in imgs)
    assert "<script" not in dom.lower()  # the answer with <script>alert(1)</script> stayed text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
