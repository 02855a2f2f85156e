"""Hypothesis drives the core through generated registries, faults and hostile responses."""

from __future__ import annotations

import ast
import pathlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regwire import Credentials, RegistryError
from regwire.sansio import ConnectionFailed, Registry, Request, Response, drive
from regwire.testing import FAULTS, FakeClock, FakeNetwork, ModelRegistry
from tests.strategies import path_components, tags

HOST = "registry.test"
MAX_REQUESTS = 80


@st.composite
def models(draw: st.DrawFn) -> ModelRegistry:
    auth = draw(st.sampled_from(["none", "basic", "bearer", "hub"]))
    model = ModelRegistry(
        HOST,
        auth=auth,
        users={"u": "p"},
        default_page=draw(st.none() | st.integers(1, 4)),
        cdn_host=draw(st.none() | st.just("cdn.test")),
    )
    for name in draw(st.lists(path_components(), min_size=1, max_size=3, unique=True)):
        for tag in draw(st.lists(tags, min_size=1, max_size=6, unique=True)):
            kind = draw(st.sampled_from(["oci", "docker", "index", "schema1"]))
            if kind == "index":
                model.push_index(name, tag, [("linux", "amd64", None), ("linux", "arm64", None)])
            elif kind == "schema1":
                model.push_schema1(
                    name, tag, {"id": tag, "architecture": "amd64"}, signed=draw(st.booleans())
                )
            else:
                model.push_image(name, tag, {"author": tag}, oci=kind == "oci")
    return model


faults = st.lists(st.sampled_from(FAULTS), max_size=12)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(models(), faults, st.data())
def test_operations_match_model_or_fail_cleanly(
    model: ModelRegistry, plan: list[Any], data: st.DataObject
) -> None:
    clock = FakeClock()
    model.clock = clock
    net = FakeNetwork(
        model.handle, plan, clock=clock, credential_hosts=frozenset({HOST, "auth.test"})
    )
    reg = Registry(HOST, clock=clock, credentials=Credentials("u", "p"))
    repository = data.draw(st.sampled_from(sorted(model.repositories)))
    tag = data.draw(st.sampled_from(model.tag_list(repository)))
    try:
        assert drive(reg.tags(repository), net) == model.tag_list(repository)
        image = drive(reg.image(repository, tag), net)
        assert image.digest == model.repositories[repository].tags[tag]
        assert drive(reg.digest(repository, tag), net) == image.digest
    except RegistryError:
        assert any(f != "ok" for f in plan), "failed without any fault"
    assert len(net.requests) <= MAX_REQUESTS
    assert not net.leaked
    assert net.slept <= 200


responses = st.builds(
    Response,
    status=st.sampled_from([200, 201, 204, 301, 302, 307, 400, 401, 403, 404, 429, 500, 503]),
    headers=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "WWW-Authenticate",
                    "Link",
                    "Location",
                    "Content-Type",
                    "Docker-Content-Digest",
                    "Retry-After",
                    "Warning",
                ]
            ),
            st.text(max_size=40)
            | st.sampled_from(
                [
                    'Bearer realm="https://auth.test/token",service="s"',
                    "Basic",
                    '</v2/x?n=1>; rel="next"',
                    "https://cdn.test/x",
                    "sha256:" + "a" * 64,
                    "application/vnd.oci.image.index.v1+json",
                ]
            ),
        ),
        max_size=4,
    ).map(tuple),
    body=st.binary(max_size=60)
    | st.sampled_from(
        [
            b'{"tags":["a"]}',
            b'{"schemaVersion":2,"manifests":[{"digest":1}]}',
            b'{"token":"t"}',
            b'{"schemaVersion":1,"history":[{"v1Compatibility":"{}"}]}',
            b"[" * 5000,
            b'{"schemaVersion":2,"config":{"digest":"sha256:' + b"a" * 64 + b'","size":"x"}}',
        ]
    ),
)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(
        responses
        | st.builds(
            ConnectionFailed,
            st.sampled_from(["refused", "dns", "tls", "timeout", "reset", "other"]),
        ),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from(["tags", "image", "digest", "manifest", "blob"]),
)
def test_hostile_responses_end_in_registry_errors(answers: list[Any], operation: str) -> None:
    script = iter(answers)
    count = 0

    def perform(intent: Any) -> Any:
        nonlocal count
        if not isinstance(intent, Request):
            return None
        count += 1
        return next(script, Response(404))

    reg = Registry(HOST, clock=FakeClock(), credentials=Credentials("u", "p"))
    op = {
        "tags": lambda: reg.tags("a/b"),
        "image": lambda: reg.image("a/b", "t"),
        "digest": lambda: reg.digest("a/b", "t"),
        "manifest": lambda: reg.manifest("a/b", "t"),
        "blob": lambda: reg.blob("a/b", "sha256:" + "a" * 64),
    }[operation]()
    try:
        drive(op, perform)
    except RegistryError:
        pass
    assert count <= MAX_REQUESTS


FORBIDDEN = {
    "socket", "ssl", "os", "subprocess", "asyncio", "trio", "threading", "h11", "select",
    "secrets", "random", "uuid", "tempfile", "pathlib",  # entropy and files come from outside
}  # fmt: skip


def test_the_core_is_pure() -> None:
    """Nothing under regwire/sansio imports I/O; time only for the default clock."""
    root = pathlib.Path(__file__).parent.parent / "regwire" / "sansio"
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module.split(".")[0]]
            elif isinstance(node, ast.ImportFrom) and node.level > 1:
                raise AssertionError(f"{path.name} imports outside the core")
            assert not FORBIDDEN.intersection(names), f"{path.name} imports {names}"
            if "time" in names:
                assert path.name == "registry.py"
        if path.name == "registry.py":
            uses = [
                n
                for n in ast.walk(tree)
                if isinstance(n, ast.Attribute)
                and isinstance(n.value, ast.Name)
                and n.value.id == "time"
            ]
            assert len(uses) == 1, "time may only be the default clock"
