"""A hypothesis state machine over two model registries: copies of changing images, faults on
either side, token expiry and re-runs, interleaved. At every step no destination tag names
content that is missing, no bytes sit under another digest, and a re-run on a calm network
sends no more bytes than those still missing plus one blob's worth of restarts."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from regwire import Credentials, RegistryError
from regwire.sansio import Registry, drive
from regwire.sansio.events import Request
from regwire.sansio.manifests import INDEX_TYPES
from regwire.testing import FakeClock, FakeNetwork, ModelRegistry, sha256

FAULTS = ["ok"] * 5 + ["reset", "503", "500", "tamper", "truncate", "timeout", "jwt401"]
REPOS = ["team/a", "team/b"]


class Router:
    def __init__(self, src: FakeNetwork, dst: FakeNetwork) -> None:
        self.src, self.dst = src, dst
        self.channels: dict[int, FakeNetwork] = {}

    def __call__(self, intent: Any) -> Any:
        if isinstance(intent, Request):
            host = urlsplit(intent.url).hostname or ""
            network = self.src if host == "src.test" else self.dst
            self.channels[intent.channel] = network
            return network(intent)
        return self.channels.get(getattr(intent, "channel", 0), self.src)(intent)


class TwoRegistries(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.src = ModelRegistry("src.test", clock=self.clock)
        self.dst = ModelRegistry(
            "dst.test",
            auth="bearer",
            realm_host="auth.dst.test",
            users={"u": "pw"},
            clock=self.clock,
            token_expires_in=60,
        )
        self.versions = dict.fromkeys(REPOS, 0)
        for repo in REPOS:
            self._publish(repo)
        # Long-lived sessions, as a client keeps them: tokens cached, expiring as time moves.
        self.a = Registry("src.test", clock=self.clock)
        self.b = Registry("dst.test", clock=self.clock, credentials=Credentials("u", "pw"))
        self.leaks = 0

    def _publish(self, repo: str) -> None:
        version = self.versions[repo]
        layers = [f"{repo} base".encode() * 50, f"{repo} v{version}".encode() * 30]
        if version % 2:
            self.src.push_index(repo, "1", [("linux", "amd64", None), ("linux", "arm64", None)])
        else:
            self.src.push_image(repo, "1", {"config": {"Labels": {"v": str(version)}}}, layers)

    def _router(self, src_faults: list[Any], dst_faults: list[Any]) -> Router:
        # auth.test: the realm FakeNetwork's "jwt401" fault names, the registry's own challenge.
        dst_hosts = frozenset({"dst.test", "auth.dst.test", "auth.test"})
        return Router(
            FakeNetwork(self.src.handle, src_faults, clock=self.clock),
            FakeNetwork(self.dst.handle, dst_faults, clock=self.clock, credential_hosts=dst_hosts),
        )

    def _copy(self, repo: str, router: Router) -> str | None:
        try:
            digest: str = drive(self.a.copy_to(self.b, repo, "1", f"mirror/{repo}", "1"), router)
        except RegistryError:
            digest = None
        self.leaks += len(router.dst.leaked)
        return digest

    @rule(
        repo=st.sampled_from(REPOS),
        src_faults=st.lists(st.sampled_from(FAULTS), max_size=12),
        dst_faults=st.lists(st.sampled_from(FAULTS), max_size=12),
    )
    def copy_under_faults(self, repo: str, src_faults: list[Any], dst_faults: list[Any]) -> None:
        digest = self._copy(repo, self._router(src_faults, dst_faults))
        if digest is not None:
            assert digest == self.src.repositories[repo].tags["1"]

    @rule(repo=st.sampled_from(REPOS))
    def rerun_calmly(self, repo: str) -> None:
        mirror = self.dst.repositories.get(f"mirror/{repo}")
        had = set(mirror.blobs) if mirror else set()
        source = self.src.repositories[repo]
        top = source.tags["1"]
        wanted = _blobs_of(source.manifests, top)
        missing = sum(len(source.blobs[d]) for d in wanted - had)
        router = self._router([], [])
        assert self._copy(repo, router) == top
        blob_writes = [
            r
            for r in self.dst.requests[-len(router.dst.requests) :]
            if r.method in ("PATCH", "PUT") and "/blobs/uploads/" in r.url
        ]
        sent = sum(len(r.body) for r in blob_writes)
        biggest = max((len(source.blobs[d]) for d in wanted), default=0)
        assert sent <= missing + biggest  # only what was missing (and at most one restart)

    @rule(repo=st.sampled_from(REPOS))
    def publish_a_new_version(self, repo: str) -> None:
        self.versions[repo] += 1
        self._publish(repo)

    @rule(seconds=st.sampled_from([1, 30, 61, 300]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @invariant()
    def no_tag_names_missing_content(self) -> None:
        for name, held in self.dst.repositories.items():
            for digest, data in held.blobs.items():
                assert sha256(data) == digest, f"wrong bytes under {digest} in {name}"
            for digest, (_, raw) in held.manifests.items():
                assert sha256(raw) == digest
            for tag, digest in held.tags.items():
                assert _blobs_of(held.manifests, digest) <= set(held.blobs), f"{name}:{tag}"

    @invariant()
    def credentials_stay_at_the_destination(self) -> None:
        assert self.leaks == 0
        assert not any(r.header("Authorization") for r in self.src.requests)


def _blobs_of(manifests: dict[str, tuple[str, bytes]], digest: str) -> set[str]:
    """Every blob ``digest`` names, through an index; a missing manifest names a missing one."""
    if digest not in manifests:
        return {f"missing manifest {digest}"}
    media_type, raw = manifests[digest]
    document = json.loads(raw)
    if media_type in INDEX_TYPES:
        found: set[str] = set()
        for child in document["manifests"]:
            found |= _blobs_of(manifests, child["digest"])
        return found
    return {b["digest"] for b in [document["config"], *document["layers"]]}


TestTwoRegistries = TwoRegistries.TestCase
TestTwoRegistries.settings = settings(
    max_examples=settings.default.max_examples,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
