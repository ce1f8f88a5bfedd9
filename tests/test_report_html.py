"""The HTML report: one self-contained file whose figures and tables load in a real browser."""
from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from bench.report import render
from report_fixture import build_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Added to a copy of the report only: the report itself has no script. It records whether every
# image decoded and whether the main table takes up room on the page.
PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const loaded = images.filter((img) => img.complete && img.naturalWidth > 0).length;
  const table = document.getElementById("main-table");
  const box = table ? table.getBoundingClientRect() : {width: 0, height: 0};
  const style = table ? getComputedStyle(table) : null;
  const shown = box.width > 0 && box.height > 0 && style.visibility === "visible" && style.display !== "none";
  document.body.setAttribute("data-probe", `images=${loaded}/${images.length} table=${shown ? "visible" : "hidden"}`);
});
</script>"""


class Collector(HTMLParser):
    """Tags and every URL-bearing attribute of a document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[tuple[str, str, str]] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action", "poster", "data") and value is not None:
                self.urls.append((tag, name, value))
                if tag == "img" and name == "src":
                    self.images.append(value)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    run_dir = build_run(tmp_path_factory.mktemp("html") / "run", masks=("surgical", "cloth"),
                        recognizers=("dlib",))
    written = render(run_dir, {"html", "plots"})
    return run_dir / "report.html", written


def test_report_is_self_contained(report: tuple[Path, list[Path]]) -> None:
    path, written = report
    document = path.read_text(encoding="utf-8")
    parser = Collector()
    parser.feed(document)
    assert "script" not in parser.tags and "link" not in parser.tags and "iframe" not in parser.tags
    for tag, name, value in parser.urls:
        assert value.startswith("data:image/png;base64,") or value.startswith("#"), (tag, name, value[:60])
    assert not re.search(r"url\(\s*['\"]?(?!data:)", document)  # no CSS fetches either
    pngs = [p for p in written if p.suffix == ".png"]
    assert len(parser.images) == len(pngs) > 0
    for src, png in zip(parser.images, pngs):
        data = base64.b64decode(src.split(",", 1)[1])
        assert data == png.read_bytes()  # the very figure written to plots/
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "PNG"


def test_report_holds_the_tables_and_notes(report: tuple[Path, list[Path]]) -> None:
    document = report[0].read_text(encoding="utf-8")
    assert document.count('id="main-table"') == 1
    assert document.count("<table ") == 4  # whole image, hidden region, set distances, verification
    assert "arcface: unavailable (w600k_r50.onnx not found in ~/.insightface/models/buffalo_l)" in document
    assert "<strong>" in document and "<u>" in document
    assert 'class="reference' in document


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt: chromium)")
def test_figures_load_and_main_table_shows_in_chromium(report: tuple[Path, list[Path]], tmp_path: Path) -> None:
    path, written = report
    probe = tmp_path / "probe.html"
    probe.write_text(path.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
              f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1600"]
    dom = subprocess.run(common + ["--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)
    n_images = sum(p.suffix == ".png" for p in written)
    match = re.search(r'data-probe="([^"]*)"', dom.stdout)
    assert match, dom.stderr[-2000:]
    assert match.group(1) == f"images={n_images}/{n_images} table=visible"
    shot = tmp_path / "shot.png"
    subprocess.run(common + [f"--screenshot={shot}", path.as_uri()], capture_output=True, timeout=120)
    with Image.open(shot) as image:  # the page as a person sees it: not blank
        gray = image.convert("L")
        assert gray.size == (1280, 1600) and gray.getextrema()[0] < 64
