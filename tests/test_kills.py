"""The kill trials (a smoke run; ``python -m benchmarks.kills`` is the long one), and their
detectors, which must see a breach when there is one."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest

from benchmarks import kills


@pytest.mark.registry
def test_copies_and_syncs_killed_at_random_points_end_whole_and_never_show_a_partial_tag() -> None:
    out = io.StringIO()
    results = kills.run(trials=6, seed=11, out=out)
    assert len(results) == 6
    assert all(not t.breaches for t in results), out.getvalue()


def test_the_layout_detector_sees_what_it_must(tmp_path: Path) -> None:
    blobs = tmp_path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    whole = b"whole blob"
    (blobs / hashlib.sha256(whole).hexdigest()).write_bytes(whole)
    assert kills._layout_breaches(tmp_path) == []
    (blobs / hashlib.sha256(b"another").hexdigest()).write_bytes(b"anoth")  # cut short
    missing = "sha256:" + "0" * 64
    (tmp_path / "index.json").write_text(json.dumps({"manifests": [{"digest": missing}]}))
    found = kills._layout_breaches(tmp_path)
    assert any("not there" in f for f in found) and any("partial" in f for f in found)
    (tmp_path / "index.json").write_text('{"manifests": [')
    assert kills._layout_breaches(tmp_path) == [f"{tmp_path}/index.json is not whole JSON"]
