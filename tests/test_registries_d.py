"""registries.d: merging files and choosing ``use-sigstore-attachments`` (`regwire.sansio.
registries_d`), following containers/image's ``docker/registries_d_test.go``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regwire.sansio.errors import InvalidPolicy
from regwire.sansio.reference import Reference
from regwire.sansio.registries_d import RegistriesD, Section

COMPANY = b"""\
docker:
    example.com:
        lookaside: https://lookaside.example.com
    registry.test.example.com:8888:
        lookaside: http://registry.test.example.com:8889/lookaside
        lookaside-staging: https://registry.test.example.com:8889/staging
        use-sigstore-attachments: true
    localhost:
        lookaside: file:///home/me/one
    localhost/relative/path/test:
        lookaside: "no/scheme/relative/path"
"""
USER = b"""\
default-docker:
    lookaside: file:///mnt/companywide/signatures
docker:
    docker.io/contoso:
        sigstore: https://lookaside.contoso.com/fordocker
    docker.io/centos/mybetaproduct:
        lookaside: http://localhost:9999/mybetaWIP/lookaside
        sigstore-staging: file:///srv/mybetaWIP/lookaside
        use-sigstore-attachments: false
    docker.io/centos/mybetaproduct:latest:
        lookaside: https://lookaside.centos.org/
"""


def test_a_worked_example_merges_every_file() -> None:
    config = RegistriesD.parse([("company.yaml", COMPANY), ("empty.yaml", b"{}"), ("u.yaml", USER)])
    assert config.default_docker == Section(lookaside="file:///mnt/companywide/signatures")
    assert dict(config.docker) == {
        "example.com": Section(lookaside="https://lookaside.example.com"),
        "registry.test.example.com:8888": Section(
            lookaside="http://registry.test.example.com:8889/lookaside",
            lookaside_staging="https://registry.test.example.com:8889/staging",
            use_sigstore_attachments=True,
        ),
        "localhost": Section(lookaside="file:///home/me/one"),
        "localhost/relative/path/test": Section(lookaside="no/scheme/relative/path"),
        "docker.io/contoso": Section(sigstore="https://lookaside.contoso.com/fordocker"),
        "docker.io/centos/mybetaproduct": Section(
            lookaside="http://localhost:9999/mybetaWIP/lookaside",
            sigstore_staging="file:///srv/mybetaWIP/lookaside",
            use_sigstore_attachments=False,
        ),
        "docker.io/centos/mybetaproduct:latest": Section(lookaside="https://lookaside.centos.org/"),
    }


def test_nothing_configures_nothing() -> None:
    assert RegistriesD.parse([]) == RegistriesD()
    for empty in (b"", b"{}", b"---\n", b"# only a comment\n", b"docker:\n", b"docker: {}\n"):
        assert RegistriesD.parse([("e.yaml", empty)]) == RegistriesD()
    assert not RegistriesD().use_sigstore_attachments(Reference.parse("quay.io/a"))


def test_a_null_section_is_configured_but_sets_nothing() -> None:
    """As yaml.v3 decodes it: the scope exists (so another file may not define it)."""
    config = RegistriesD.parse([("a.yaml", b"docker:\n  quay.io:\n")])
    assert config.docker == (("quay.io", Section()),)
    with pytest.raises(InvalidPolicy, match=r"quay\.io"):
        RegistriesD.parse(
            [("a.yaml", b"docker:\n  quay.io:\n"), ("b.yaml", b"docker: {quay.io: {}}")]
        )


def test_default_docker_in_two_files_names_both() -> None:
    one = b"default-docker:\n lookaside: file:////tmp/something"
    two = b"default-docker:\n lookaside: file:////tmp/different"
    with pytest.raises(InvalidPolicy) as caught:
        RegistriesD.parse([("/d/0.yaml", one), ("/d/1.yaml", two)])
    assert "/d/0.yaml" in str(caught.value)
    assert "/d/1.yaml" in str(caught.value)
    assert "default-docker" in str(caught.value)


def test_a_scope_in_two_files_names_both_even_when_they_agree() -> None:
    same = b"docker:\n example.com:\n  lookaside: file:////tmp/something"
    with pytest.raises(InvalidPolicy) as caught:
        RegistriesD.parse([("/d/0.yaml", same), ("/d/1.yaml", same)])
    assert "/d/0.yaml" in str(caught.value)
    assert "/d/1.yaml" in str(caught.value)
    assert '"example.com"' in str(caught.value)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"}", "not valid YAML"),
        (b"docker: [", "not valid YAML"),
        (b"\xff\xfe\xfd", "not valid YAML"),
        (b"- a\n- b\n", "the file must be a mapping"),
        (b"just text", "the file must be a mapping"),
        (b"docker: [a, b]", "docker must be a mapping"),
        (b"docker: text", "docker must be a mapping"),
        (b"default-docker: [1]", "default-docker must be a mapping"),
        (b"docker:\n  quay.io: [1]", 'docker["quay.io"] must be a mapping'),
        (b"docker:\n  quay.io: {lookaside: [a]}", "lookaside must be a string"),
        (b"docker:\n  quay.io: {lookaside-staging: {a: b}}", "lookaside-staging must be a string"),
        (b"docker:\n  quay.io: {use-sigstore-attachments: 1}", "must be true or false"),
        (b"docker:\n  quay.io: {use-sigstore-attachments: maybe}", "must be true or false"),
        (b"docker:\n  quay.io: {use-sigstore-attachments: 'true'}", "must be true or false"),
        (b"docker:\n  quay.io: {use-sigstore-attachments: [true]}", "must be true or false"),
        (b"docker:\n  quay.io: {}\n  quay.io: {}\n", 'the key "quay.io" twice'),
        (b"docker: {}\ndocker: {}\n", 'the key "docker" twice'),
        (b"docker:\n  quay.io: {lookaside: a, lookaside: b}", 'the key "lookaside" twice'),
        (b"docker:\n  [a, b]: {}\n", "a key that is not a string"),
        (b"docker:\n  <<: [1]\n", "not valid YAML"),  # a merge of something not a mapping
        (b"[" * 5000, "not valid YAML"),
    ],
)
def test_invalid_files_are_refused_naming_the_file(data: bytes, says: str) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        RegistriesD.parse([("/etc/containers/registries.d/bad.yaml", data)])
    assert says in str(caught.value)
    assert caught.value.source == "/etc/containers/registries.d/bad.yaml"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("True", True),
        ("false", False),
        ("yes", True),
        ("'yes'", True),
        ("on", True),
        ("ON", True),
        ("y", True),
        ("Y", True),
        ("no", False),
        ("off", False),
        ("n", False),
        ('"N"', False),
        ("", None),
        ("~", None),
        ("null", None),
    ],
)
def test_booleans_as_yaml_v3_reads_them(text: str, value: bool | None) -> None:
    config = RegistriesD.parse(
        [("a.yaml", f"docker:\n  q.io:\n    use-sigstore-attachments: {text}\n".encode())]
    )
    assert config.docker == (("q.io", Section(use_sigstore_attachments=value)),)


def test_unknown_keys_are_ignored_as_containers_image_ignores_them() -> None:
    data = b"other: 1\ndocker:\n  q.io:\n    use-sigstore-attachments: true\n    future-key: [x]\n"
    assert RegistriesD.parse([("a.yaml", data)]).docker == (
        ("q.io", Section(use_sigstore_attachments=True)),
    )


def test_scalars_are_read_as_their_text_and_merge_keys_are_honoured() -> None:
    data = b"""\
common: &common
  use-sigstore-attachments: yes
docker:
  q.io:
    <<: *common
    lookaside: 2001-01-01
  r.io:
    lookaside: 12
"""
    assert dict(RegistriesD.parse([("a.yaml", data)]).docker) == {
        "q.io": Section(lookaside="2001-01-01", use_sigstore_attachments=True),
        "r.io": Section(lookaside="12"),
    }


def test_only_the_first_document_counts() -> None:
    data = b"docker: {q.io: {use-sigstore-attachments: true}}\n---\ndocker: {r.io: {}}\n"
    assert RegistriesD.parse([("a.yaml", data)]).docker == (
        ("q.io", Section(use_sigstore_attachments=True)),
    )


# --- use-sigstore-attachments, scope by scope ------------------------------------------------

SCOPED = RegistriesD(
    default_docker=Section(use_sigstore_attachments=True),
    docker=(
        ("localhost", Section(use_sigstore_attachments=False)),
        ("localhost:5000", Section(use_sigstore_attachments=True)),
        ("example.com", Section(use_sigstore_attachments=False)),
        ("example.com/ns1", Section(use_sigstore_attachments=True)),
        ("example.com/ns1/ns2", Section(use_sigstore_attachments=False)),
        ("example.com/ns1/ns2/repo", Section(use_sigstore_attachments=True)),
        ("example.com/ns1/ns2/repo:notlatest", Section(use_sigstore_attachments=False)),
        ("example.com/ns1/unset", Section(lookaside="file:///only/a/lookaside")),
        ("*.wild.example", Section(use_sigstore_attachments=False)),
    ),
)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("example.com/ns1/ns2/repo:notlatest", False),  # the full reference
        ("example.com/ns1/ns2/repo:unmatched", True),  # its repository
        ("example.com/ns1/ns2/notrepo:notlatest", False),
        ("example.com/ns1/notns2/repo:notlatest", True),
        ("example.com/notns1/ns2/repo:notlatest", False),  # the host
        ("example.com/ns1/unset/repo", True),  # a section that does not set it defers
        ("unknown.example.com/busybox", True),  # default-docker
        ("localhost:5000/busybox", True),
        ("localhost/busybox", False),
        ("localhost:9999/busybox", True),  # a host with another port is another host
        ("a.wild.example/x", False),  # wildcards, as in a policy
        ("wild.example/x", True),
    ],
)
def test_the_most_specific_scope_that_sets_it_decides(image: str, expected: bool) -> None:
    assert SCOPED.use_sigstore_attachments(Reference.parse(image)) is expected


def test_without_a_default_nothing_is_attached() -> None:
    config = RegistriesD.parse(
        [("a.yaml", b"docker:\n  quay.io:\n    use-sigstore-attachments: true\n")]
    )
    assert config.use_sigstore_attachments(Reference.parse("quay.io/x/y:1"))
    assert not config.use_sigstore_attachments(Reference.parse("ghcr.io/x/y:1"))
    assert not RegistriesD(default_docker=Section(lookaside="x")).use_sigstore_attachments(
        Reference.parse("ghcr.io/x")
    )


# --- properties ---------------------------------------------------------------------------

_parts = st.sampled_from(["a", "b", "c"])
_hosts = st.sampled_from(["a.example.com", "b.a.example.com", "example.com:5000", "localhost"])


@st.composite
def images(draw: st.DrawFn) -> Reference:
    path = "/".join(draw(st.lists(_parts, min_size=1, max_size=3)))
    tag = draw(st.sampled_from(["", ":v1", ":latest"]))
    return Reference.parse(f"{draw(_hosts)}/{path}{tag}")


def expected(image: Reference, config: dict[str, bool | None], default: bool | None) -> bool:
    """The rule written again: the exact reference, then each "/" prefix, then the "*."
    parents of the host without its port; the first that sets the flag; then the default."""
    name = f"{image.registry}/{image.repository}"
    labels = image.registry.split(":")[0].split(".")
    order = [f"{name}:{image.tag or 'latest'}"]
    order += [name.rsplit("/", n)[0] for n in range(name.count("/") + 1)]
    order += ["*." + ".".join(labels[n:]) for n in range(1, len(labels))]
    for scope in order:
        if config.get(scope) is not None:
            return bool(config[scope])
    return bool(default)


@st.composite
def configs(draw: st.DrawFn) -> tuple[dict[str, bool | None], bool | None]:
    scopes = st.sampled_from(
        [
            "a.example.com",
            "*.example.com",
            "*.a.example.com",
            "*.com",
            "example.com:5000",
            "example.com",
            "localhost",
            "a.example.com/a",
            "a.example.com/a/b",
            "localhost/a:v1",
            "localhost/a:latest",
            "example.com:5000/b/c",
        ]
    )
    flags = st.none() | st.booleans()
    return draw(st.dictionaries(scopes, flags, max_size=6)), draw(flags)


def _yaml(config: dict[str, bool | None], default: bool | None) -> bytes:
    def section(flag: bool | None) -> str:
        return "{}" if flag is None else f"{{use-sigstore-attachments: {str(flag).lower()}}}"

    lines = ["docker:"] + [f'  "{scope}": {section(flag)}' for scope, flag in config.items()]
    if default is not None:
        lines.append(f"default-docker: {section(default)}")
    return "\n".join(lines).encode()


@settings(max_examples=300)
@given(image=images(), case=configs())
def test_use_sigstore_attachments_equals_the_reference_rule(
    image: Reference, case: tuple[dict[str, bool | None], bool | None]
) -> None:
    config, default = case
    parsed = RegistriesD.parse([("a.yaml", _yaml(config, default))])
    assert parsed.use_sigstore_attachments(image) is expected(image, config, default)
    # splitting the scopes over two files changes nothing
    items = list(config.items())
    half = len(items) // 2
    split = RegistriesD.parse(
        [
            ("a.yaml", _yaml(dict(items[:half]), default)),
            ("b.yaml", _yaml(dict(items[half:]), None)),
        ]
    )
    assert split.use_sigstore_attachments(image) is expected(image, config, default)


@settings(max_examples=300)
@given(
    data=st.binary(max_size=80)
    | st.text(alphabet="docker:-{}[]&*<>\n  aqy'\"", max_size=60).map(str.encode)
)
def test_any_bytes_are_a_configuration_or_invalid_policy(data: bytes) -> None:
    try:
        RegistriesD.parse([("x.yaml", data)])
    except InvalidPolicy:
        pass
