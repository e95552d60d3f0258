"""The culture report's HTML page in a real browser: headless Chromium (Debian's `chromium`).

The page is rendered from the bundled example data, opened with the network switched off, and its
DOM read back: every chart is there as SVG and carries its numbers as text. A screenshot goes to
tests/artifacts/report.png (kept by CI as an artefact, for a person to look at).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from checks.report import build_report, render_html
from checks.report.command import local_history
from tests.tool_availability import unavailable

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    # Nothing may be fetched at view time: any request for another host fails.
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not found:
        unavailable("chromium is not installed (Debian package chromium)")
    return found


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> tuple[Path, object]:
    documents = sorted((ROOT / "examples" / "postmortems").glob("*.md"))
    history = local_history(documents, str(ROOT / "examples" / "history.json"))
    report = build_report(history, date(2026, 6, 30))
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_html(report), "utf-8")
    return path, report


def browse(chromium: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_the_page_needs_nothing_from_the_network(page):
    path, _ = page
    html = path.read_text("utf-8")
    assert not re.search(
        r"""(?:src|href)=["']?(?:https?:)?//""", html.replace('href="https://github.com', "")
    )
    assert "<script" not in html


def test_the_charts_are_drawn_and_carry_the_numbers(chromium, page, tmp_path):
    path, report = page
    dom = browse(chromium, tmp_path, "--dump-dom", path.as_uri()).stdout
    svgs = re.findall(r"<svg\b.*?</svg>", dom, re.S)
    assert len(svgs) == len(report.sections)
    for section, drawn in zip(report.sections, svgs, strict=True):
        assert f'aria-label="{section.title}"' in drawn
        texts = " ".join(re.findall(r"<text\b[^>]*>(.*?)</text>", drawn, re.S))
        if section.key == "reporting":  # stacked bars labelled with each month's counts
            for series in section.series[:2]:
                for value in series.values:
                    if value:
                        assert re.search(rf"(?<![\d.]){value:g}(?![\d.])", texts), (series.key, value)
        if section.key == "postmortem-speed":  # each point labelled with its value
            merge = next(s for s in section.series if s.key == "days_to_merge")
            for value in filter(None, merge.values):
                assert f"{value:g} d" in texts
        # the months on the axis
        assert report.months[0][2:] in texts and report.months[-1][2:] in texts
    assert "Why this matters" in dom and "#reporting-incidents-and-near-misses" in dom


def test_a_screenshot_is_kept(chromium, page, tmp_path):
    path, _ = page
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / "report.png"
    target.unlink(missing_ok=True)
    browse(chromium, tmp_path, "--window-size=900,4200", f"--screenshot={target}", path.as_uri())
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert target.stat().st_size > 50_000  # a page of charts, not a blank one
