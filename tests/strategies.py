"""Hypothesis strategies shared by the test modules."""

from __future__ import annotations

from hypothesis import strategies as st

from regwire import Reference

_alnum = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_separator = st.sampled_from([".", "_", "__", "-", "--"])


@st.composite
def path_components(draw: st.DrawFn) -> str:
    parts = [draw(_alnum)]
    for _ in range(draw(st.integers(0, 2))):
        parts += [draw(_separator), draw(_alnum)]
    return "".join(parts)


@st.composite
def repositories(draw: st.DrawFn) -> str:
    return "/".join(draw(st.lists(path_components(), min_size=1, max_size=3)))


tags = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z")
sha256_digests = st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex())
registries = st.sampled_from(
    ["docker.io", "ghcr.io", "localhost", "localhost:5000", "r.example.com:8443", "[::1]:5000"]
)


@st.composite
def references(draw: st.DrawFn) -> Reference:
    registry = draw(registries)
    repository = draw(repositories())
    if registry == "docker.io" and "/" not in repository:
        repository = "library/" + repository
    tag = draw(st.none() | tags)
    digest = draw(st.none() | sha256_digests)
    return Reference(registry, repository, tag, digest)


_TCHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~+!#$%&'*^`|"
token_text = st.text(alphabet=_TCHAR, min_size=1, max_size=10)
param_values = st.text(
    alphabet=st.characters(codec="latin-1", exclude_categories=["Cc"]) | st.sampled_from('",\\= '),
    max_size=20,
)
