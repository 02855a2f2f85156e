"""The concepts page shows the layers and one copy flowing through them as pictures, drawn by
the docs build from the ``.dot`` sources in ``docs/diagrams`` (``sphinx.ext.graphviz`` running
Debian's ``dot``, nothing fetched from the network). A machine without ``dot`` fails here, loudly,
rather than building a page whose pictures are silently missing."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"

# What each picture must show, so that a picture of something else does not pass for it.
PICTURES = {
    "layers.dot": ("regwire.sansio", "h11 Wire", "ClientCore", "upload engine", "the network"),
    "copy.dot": ("GET manifest", "HEAD blob", "BodyChunk", "SendBody, EndBody", "PUT the tag"),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("dot") is None:
        pytest.fail("the docs' pictures need graphviz's dot: apt-get install graphviz")
    out = tmp_path_factory.mktemp("html")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS),
         str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return out


def test_the_concepts_page_shows_the_layers_and_a_copy_as_svg_pictures(site: Path) -> None:
    page = (site / "concepts.html").read_text()
    objects = re.findall(r'<object data="([^"]+)" type="image/svg\+xml" class="graphviz', page)
    assert len(objects) == 2, objects
    for (source, words), data in zip(PICTURES.items(), objects, strict=True):
        assert not re.match(r"[a-z]+:", data), data  # a file of the site, not a URL
        svg = (site / data).read_text()
        assert "<svg" in svg, (source, svg[:200])
        for word in words:
            assert word in svg, (source, word)


def test_the_pictures_are_drawn_from_the_sources_kept_in_docs() -> None:
    page = (DOCS / "concepts.rst").read_text()
    for source in PICTURES:
        assert f".. graphviz:: diagrams/{source}" in page, source
        assert re.search(r"^digraph \w+ \{$", (DOCS / "diagrams" / source).read_text(), re.M)


# That each picture shows at its own size (not scaled down, its 9pt words with it) in the
# text column at 1280 px is measured in the browser: tests/test_docs_browser.py.
