"""A hypothesis state machine: operations, token expiry and faults, interleaved."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from regwire import Credentials, RegistryError
from regwire.sansio import Registry, drive
from regwire.sansio.manifests import OCI_MANIFEST
from regwire.testing import FAULTS, FakeClock, FakeNetwork, ModelRegistry

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"

HOST = "registry.test"
REPOS = ["a/one", "a/two", "b/three"]


class RegistrySession(RuleBasedStateMachine):
    """One long-lived `Registry` against a changing model, a moving clock and a flaky network."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.model = ModelRegistry(
            HOST,
            auth="bearer",
            users={"u": "p"},
            clock=self.clock,
            token_expires_in=120,
            default_page=2,
        )
        for repo in REPOS:
            self.model.push_image(repo, "v0")
        self.registry = Registry(HOST, clock=self.clock, credentials=Credentials("u", "p"))
        self.versions = dict.fromkeys(REPOS, 0)
        self.requests: list[Any] = []
        self.leaks = 0
        self.pushes = 0
        self.pushed: list[tuple[str, str]] = []

    def _net(self, faults: list[Any]) -> FakeNetwork:
        return FakeNetwork(
            self.model.handle,
            faults,
            clock=self.clock,
            credential_hosts=frozenset({HOST, "auth.test"}),
        )

    def _run(self, op: Any, faults: list[Any]) -> Any:
        net = self._net(faults)
        try:
            return drive(op, net), True
        except RegistryError:
            assert any(f != "ok" for f in faults), "failed without a fault"
            return None, False
        finally:
            self.requests += net.requests
            self.leaks += len(net.leaked)
            assert len(net.requests) <= 60

    @rule(repo=st.sampled_from(REPOS), faults=st.lists(st.sampled_from(FAULTS), max_size=3))
    def tags(self, repo: str, faults: list[Any]) -> None:
        result, ok = self._run(self.registry.tags(repo), faults)
        if ok:
            assert result == self.model.tag_list(repo)

    @rule(repo=st.sampled_from(REPOS), faults=st.lists(st.sampled_from(FAULTS), max_size=3))
    def image(self, repo: str, faults: list[Any]) -> None:
        tag = f"v{self.versions[repo]}"
        result, ok = self._run(self.registry.image(repo, tag), faults)
        if ok:
            assert result.digest == self.model.repositories[repo].tags[tag]

    @rule(repo=st.sampled_from(REPOS))
    def push(self, repo: str) -> None:
        self.versions[repo] += 1
        self.model.push_image(repo, f"v{self.versions[repo]}", {"author": str(self.versions[repo])})

    @rule(repo=st.sampled_from(REPOS), faults=st.lists(st.sampled_from(FAULTS), max_size=4))
    def regwire_pushes(self, repo: str, faults: list[Any]) -> None:
        """An image pushed through the core: blobs first, then the manifest, by tag."""
        self.pushes += 1
        tag = f"r{self.pushes}"
        config = json.dumps({"os": "linux", "architecture": "amd64", "n": self.pushes}).encode()
        layer = f"layer {self.pushes}".encode()
        net = self._net(faults)

        def operation() -> Any:
            config_digest = yield from self.registry.push_blob(repo, config)
            layer_digest = yield from self.registry.push_blob(repo, layer, chunk_size=4)
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {
                        "mediaType": OCI_CONFIG,
                        "digest": config_digest,
                        "size": len(config),
                    },
                    "layers": [
                        {"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}
                    ],
                }
            ).encode()
            return (yield from self.registry.push_manifest(repo, tag, manifest))

        try:
            digest = drive(operation(), net)
        except RegistryError:
            assert any(f != "ok" for f in faults), "a push failed without a fault"
            return
        finally:
            self.requests += net.requests
            self.leaks += len(net.leaked)
            assert len(net.requests) <= 80
        assert self.model.repositories[repo].tags[tag] == digest
        self.pushed.append((repo, tag))

    @precondition(lambda self: bool(self.pushed))
    @rule(faults=st.lists(st.sampled_from(FAULTS), max_size=2), data=st.data())
    def regwire_deletes_a_tag(self, faults: list[Any], data: st.DataObject) -> None:
        repo, tag = data.draw(st.sampled_from(self.pushed))
        _, ok = self._run(self.registry.delete(repo, tag), faults)
        if ok:
            assert tag not in self.model.repositories[repo].tags
            self.pushed.remove((repo, tag))

    @invariant()
    def every_tag_names_a_whole_image(self) -> None:
        for repo in self.model.repositories.values():
            for digest in repo.tags.values():
                raw = repo.manifests[digest][1]
                document = json.loads(raw)
                for blob in [document.get("config") or {}, *(document.get("layers") or [])]:
                    if blob.get("digest"):
                        assert blob["digest"] in repo.blobs, "a tag names a missing blob"

    @rule(seconds=st.sampled_from([1, 30, 59, 61, 114, 116, 121, 600]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @precondition(lambda self: len(self.requests) > 0)
    @invariant()
    def no_expired_token_is_ever_sent(self) -> None:
        assert self.model.expired_tokens_seen == 0

    @invariant()
    def credentials_stay_home(self) -> None:
        assert self.leaks == 0

    @invariant()
    def cached_tokens_are_for_the_realm(self) -> None:
        for key in self.registry.session.tokens:
            assert urlsplit(key.realm).hostname == "auth.test"
            assert all(scope.type == "repository" for scope in key.scopes)


# Examples follow the loaded profile (100 in "ci", many more in "fuzz").
RegistrySession.TestCase.settings = settings(
    settings.default,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRegistrySession = RegistrySession.TestCase
