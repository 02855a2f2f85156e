"""The blocking client copies between two loopback registries (one with bearer auth)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from regwire import Client
from regwire.testing import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import run_with


@pytest.fixture
def two() -> Iterator[tuple[LoopbackServer, ModelRegistry, LoopbackServer, ModelRegistry]]:
    def make_src(host: str) -> ModelRegistry:
        m = ModelRegistry(host, scheme="http")
        m.push_image("team/app", "1", None, [b"one" * 5000, b"two" * 70000])
        m.push_index("team/multi", "1", [("linux", "amd64", None), ("linux", "arm64", "v8")])
        return m

    def make_dst(host: str) -> ModelRegistry:
        return ModelRegistry(host, scheme="http", auth="basic", users={"u": "pw"})

    a, src = serve_model(make_src)
    b, dst = serve_model(make_dst)
    try:
        yield a, src, b, dst
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("driver", ["sync", "trio", "asyncio"])
def test_a_copy_between_two_registries_keeps_every_digest(
    driver: str,
    two: tuple[LoopbackServer, ModelRegistry, LoopbackServer, ModelRegistry],
    tmp_path: Path,
) -> None:
    a, src, b, dst = two
    auth = tmp_path / "config.json"  # the destination's password, and only the destination's
    token = base64.b64encode(b"u:pw").decode()
    auth.write_text(json.dumps({"auths": {b.authority: {"auth": token}}}))

    async def scenario(client: Any) -> tuple[str, str, str]:
        digest = await client.copy(f"{a.authority}/team/app:1", f"{b.authority}/mirror/app")
        one = await client.copy(
            f"{a.authority}/team/multi:1",
            f"{b.authority}/mirror/arm:arm",
            platforms=["linux/arm64"],
        )
        served = (await client.manifest(f"{b.authority}/mirror/arm:arm")).digest
        with pytest.raises(ValueError, match="not a digest"):
            await client.copy(f"{a.authority}/team/app:1", f"{b.authority}/mirror/app@{digest}")
        return digest, one, served

    digest, one, served = run_with(
        driver, scenario, insecure_registries=[a.authority, b.authority], auth_file=str(auth)
    )
    assert digest == src.repositories["team/app"].tags["1"]
    assert dst.repositories["mirror/app"].tags["1"] == digest  # the source's tag
    assert dst.repositories["mirror/app"].blobs == src.repositories["team/app"].blobs
    assert dst.repositories["mirror/arm"].tags["arm"] == one == served
    # The destination's password goes to the destination, and never to the source.
    assert any(r.header("Authorization") == "Basic dTpwdw==" for r in dst.requests)
    assert not any(r.header("Authorization") for r in src.requests)


def test_a_copy_without_the_destinations_password_is_denied_and_leaves_no_tag(
    two: tuple[LoopbackServer, ModelRegistry, LoopbackServer, ModelRegistry],
) -> None:
    from regwire import AuthenticationError

    a, _, b, dst = two
    client = Client(insecure_registries=[a.authority, b.authority])
    with client, pytest.raises(AuthenticationError, match="asks for credentials"):
        client.copy(f"{a.authority}/team/app:1", f"{b.authority}/mirror/app:1")
    assert "mirror/app" not in dst.repositories or not dst.repositories["mirror/app"].tags


def test_the_copy_command_prints_json_and_refuses_one_password_for_two_registries(
    two: tuple[LoopbackServer, ModelRegistry, LoopbackServer, ModelRegistry],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from regwire.cli import main

    a, src, b, dst = two
    auth = tmp_path / "config.json"
    token = base64.b64encode(b"u:pw").decode()
    auth.write_text(json.dumps({"auths": {b.authority: {"auth": token}}}))
    source, target = f"{a.authority}/team/multi:1", f"{b.authority}/mirror/multi:v1"
    assert main(["copy", source, target, "--insecure", "--authfile", str(auth)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["Digest"] == src.repositories["team/multi"].tags["1"]
    assert out["Destination"] == target
    assert dst.repositories["mirror/multi"].tags["v1"] == out["Digest"]
    assert main(["copy", source, target, "--insecure", "--creds", "u:pw"]) == 2
    assert "--creds is for one registry" in capsys.readouterr().err
    assert main(["copy", source, target + "@sha256:" + "0" * 64, "--insecure"]) == 2


def test_copy_takes_skopeos_flags_each_end_its_own_account(
    two: tuple[LoopbackServer, ModelRegistry, LoopbackServer, ModelRegistry],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from regwire.cli import main

    a, src, b, dst = two
    source, target = f"docker://{a.authority}/team/app:1", f"docker://{b.authority}/mirror/c:2"
    argv = ["copy", source, target, "--all", "--referrers", "--src-tls-verify=false"]
    assert main([*argv, "--dest-tls-verify=false", "--dest-creds", "u:pw"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert dst.repositories["mirror/c"].tags["2"] == out["Digest"]
    assert not any(r.header("Authorization") for r in src.requests)  # dest's account stays
    assert main([*argv, "--dest-tls-verify=false", "--dest-creds", "u:wrong"]) == 4
    capsys.readouterr()
    assert main(["copy", f"oci-archive:{tmp_path}/none.tar", target]) == 1
    assert "cannot open" in capsys.readouterr().err
    assert main(["copy", f"oci:{tmp_path}/none:1", target]) == 1
    assert "has no oci-layout file" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_copy_shows_progress_on_a_terminal_and_is_silent_when_piped(
    two: tuple[LoopbackServer, ModelRegistry, LoopbackServer, ModelRegistry],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from regwire.cli import main

    a, src, _, _ = two
    source = f"docker://{a.authority}/team/app:1"
    assert main(["copy", source, f"oci:{tmp_path}/piped:1", "--src-tls-verify=false"]) == 0
    assert capsys.readouterr().err == ""  # piped: nothing but the JSON on stdout
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["copy", source, f"oci:{tmp_path}/shown:1", "--src-tls-verify=false"]) == 0
    shown = terminal.getvalue()
    size = sum(len(b) for b in src.repositories["team/app"].blobs.values())
    assert f"{source.removeprefix('docker://')}:" in shown  # the image, on its line
    assert "\r" in shown and "blobs sent" in shown
    summary = shown.rsplit("\r\x1b[K", 1)[-1]
    assert summary.startswith("regwire: 3 blobs sent (") and summary.endswith(" s\n")
    assert f"{size / 2**20:.1f} MiB" in summary and "0 already there, 1 manifests" in summary


def test_the_meter_counts_what_the_core_reports() -> None:
    from regwire.cli.copy import Meter
    from regwire.sansio.copying import CopyProgress

    meter = Meter(enabled=False)
    meter.start("x")
    for event in [
        CopyProgress("present", "sha256:a"),
        CopyProgress("bytes", "sha256:b", 3 * 2**20),
        CopyProgress("sent", "sha256:b", 3 * 2**20),
        CopyProgress("mounted", "sha256:c"),
        CopyProgress("manifest", "sha256:d", 500),
    ]:
        meter(event)
    assert (meter.sent, meter.present, meter.manifests, meter.bytes) == (1, 2, 1, 3 * 2**20)
    assert meter.summary().startswith("1 blobs sent (3.0 MiB, ")


def test_the_blocking_client_copies_blobs_at_once_and_one_at_a_time_when_asked() -> None:
    """``concurrency`` runs the core's `Parallel` in threads: blob GETs are in flight together
    (each is held a moment at the source); with 1, never more than one at a time."""
    import threading
    import time

    def make(host: str) -> ModelRegistry:
        m = ModelRegistry(host, scheme="http")
        m.push_image("team/app", "1", {}, [b"one", b"two", b"three"])
        return m

    server, model = serve_model(make)
    dest, copied = serve_model(lambda host: ModelRegistry(host, scheme="http"))
    lock = threading.Lock()
    flight = {"now": 0, "most": 0}

    def handle(request: Any) -> Any:
        if request.method == "GET" and "/blobs/sha256:" in request.url:
            with lock:
                flight["now"] += 1
                flight["most"] = max(flight["most"], flight["now"])
            time.sleep(0.3)
            with lock:
                flight["now"] -= 1
        return model.handle(request)

    server.handler = handle
    try:
        with Client(insecure_registries=[server.authority, dest.authority]) as client:
            digest = client.copy(f"{server.authority}/team/app:1", f"{dest.authority}/m/app:1")
            assert copied.repositories["m/app"].tags["1"] == digest
            assert flight["most"] >= 2
            flight["most"] = 0
            again = client.copy(
                f"{server.authority}/team/app:1", f"{dest.authority}/m/two:1", concurrency=1
            )
            assert again == digest and flight["most"] == 1
            with pytest.raises(ValueError, match="concurrency"):
                client.copy(
                    f"{server.authority}/team/app:1", f"{dest.authority}/m/3", concurrency=0
                )
    finally:
        server.close()
        dest.close()
