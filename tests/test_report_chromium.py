"""Open a rendered report in headless Chromium: tables and figures present, no console errors.

The screenshot is kept at reports/out/report-screenshot.png (gitignored) for a human look.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from reports.build import main

ROOT = Path(__file__).parent.parent
DATA = Path(__file__).parent / "data"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,3000"]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs chromium for the browser check: apt-get install -y chromium"
)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "index.html"
    assert main([str(DATA / "run_multi_seed.json"), "-o", str(out), "--baseline", str(DATA / "baseline.json")]) == 0
    return out


def run_chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=60)


def test_dom_has_tables_and_plots_and_no_console_errors(page):
    result = run_chromium("--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri())
    dom = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    assert dom.count("<table") >= 5
    assert dom.count("<svg") >= 10
    assert "Dataset: sst2" in dom and "Regression against baseline" in dom
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line or "net::ERR" in line]
    assert not console, "\n".join(console)


def test_screenshot(page):
    shot = ROOT / "reports" / "out" / "report-screenshot.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.unlink(missing_ok=True)
    result = run_chromium(f"--screenshot={shot}", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.stat().st_size > 50_000  # a blank page is a few kB


def test_a_click_on_a_header_sorts_the_table(page, tmp_path):
    """The inline sorter: one click sorts ascending by the column's values, a second descending."""
    probe = """<script>
    var table = Array.prototype.slice.call(document.querySelectorAll("table.summary")).sort(function (a, b) {
      return b.tBodies[0].rows.length - a.tBodies[0].rows.length; })[0];  // the longest table
    var heads = table.tHead.rows[0].cells, col = -1;
    for (var i = 0; i < heads.length; i++) if (heads[i].textContent.indexOf("Train time") === 0) col = i;
    function values() { return Array.prototype.map.call(table.tBodies[0].rows, function (r) {
      return parseFloat(r.cells[col].getAttribute("data-v")); }); }
    heads[col].click(); var up = values(); heads[col].click(); var down = values();
    document.body.insertAdjacentHTML("beforeend", "<pre id='probe'>" + JSON.stringify([up, down]) + "</pre>");
    </script></body>"""
    copy = tmp_path / "sorted.html"
    copy.write_text(page.read_text(encoding="utf-8").replace("</body>", probe), encoding="utf-8")
    result = run_chromium("--dump-dom", copy.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    import json
    import re

    up, down = json.loads(re.search(r"<pre id=\"probe\">(.*?)</pre>", result.stdout).group(1))
    assert len(up) >= 3 and up == sorted(up) and down == sorted(up, reverse=True)
