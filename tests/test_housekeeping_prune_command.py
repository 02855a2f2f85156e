"""The ``prune`` command (issue 31) on the model registry: ``--dry-run`` prints the plan and
writes nothing, ``--json`` for scripts, a real run leaves what the plan says, and a bad
duration, expression or count is a usage error (exit 2) before any request."""

from __future__ import annotations

import json

import pytest

from regwire.cli import main
from regwire.testing import Quirks
from tests.test_housekeeping_prune import REPO, WRITES, expected, serve


def test_prune_command(capsys: pytest.CaptureFixture[str]) -> None:
    server, model, d = serve(Quirks(tag_delete="digest_invalid", referrers_api=False))
    repo = model.repositories[REPO]
    before = dict(repo.tags)
    with server:
        a = server.authority
        common = ["--insecure", "--creds", ":"]
        args = ["prune", f"{a}/{REPO}", "--keep", "2", "--exclude", "keep-.*", *common]
        assert main([*args, "--dry-run", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert set(out["delete"]) == expected(d)[1] and repo.tags == before
        assert {t["tag"]: t["kept"] for t in out["tags"]}["v3"] is False
        assert main([*args, "--dry-run"]) == 0
        text = capsys.readouterr().out
        assert "v3" in text and "untagged" in text and d["v1"] in text and repo.tags == before
        assert not [r for r in model.requests if r.method in WRITES]
        assert main(args) == 0
        capsys.readouterr()
        assert set(repo.tags) == expected(d)[0]
        for bad in (["--older-than", "3 days"], ["--include", "("], ["--keep", "-1"]):
            status = main(["prune", f"{a}/{REPO}", "--keep", "1", *common, *bad])
            assert status == 2, bad
            assert capsys.readouterr().err
