"""Filtered tag lists (issue 31): the pure filter, every client, and ``regwire tags``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regwire.cli import main
from regwire.sansio.errors import RegistryError
from regwire.sansio.tagfilter import InvalidFilter, TagFilter, filter_tags, is_digest_tag
from regwire.testing.model import ModelRegistry
from regwire.testing.server import LoopbackServer, serve_model
from tests.harness.drivers import DRIVERS, SyncAdapter, run_with

HEX = "ab" * 32
TAGS = [
    "1.2.3",
    "1.3.0",
    "2.0.0",
    "latest",
    "v1",
    "v10",
    "v1-rc",
    f"sha256-{HEX}",
    f"sha256-{HEX}.sig",
    f"sha256-{HEX}.att",
    f"sha256-{HEX}.sbom",
]

tag_text = st.text(st.sampled_from("abcv0123456789.-_sha"), min_size=1, max_size=12)
tag_lists = st.lists(tag_text, max_size=20)


def test_include_matches_whole_tags_not_substrings() -> None:
    assert filter_tags(TAGS, include="v1") == ["v1"]  # not v10, not v1-rc
    assert filter_tags(TAGS, include="v1.*") == ["v1", "v10", "v1-rc"]


def test_exclude_wins_over_include() -> None:
    assert filter_tags(TAGS, include="v1.*", exclude="v1-.*") == ["v1", "v10"]
    assert filter_tags(TAGS, include="latest", exclude="latest") == []


def test_semver_uses_the_sync_constraint_syntax() -> None:
    assert filter_tags(TAGS, semver="^1.2") == ["1.2.3", "1.3.0"]
    assert filter_tags(TAGS, semver=">=2") == ["2.0.0", "v10"]


def test_omit_digest_tags_drops_cosign_and_fallback_tags_only() -> None:
    kept = filter_tags([*TAGS, "sha256-short", f"sha256-{HEX}.other"], omit_digest_tags=True)
    assert kept == [*TAGS[:7], "sha256-short", f"sha256-{HEX}.other"]
    assert is_digest_tag(f"sha256-{HEX}.sig") and not is_digest_tag(f"sha512-{HEX}")


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"include": "("}, "include"),
        ({"exclude": "[a-"}, "exclude"),
        ({"semver": ">>1"}, "semver"),
        ({"semver": "1.2 ||"}, "semver"),
    ],
)
def test_a_bad_filter_is_a_typed_error(kwargs: dict[str, Any], option: str) -> None:
    with pytest.raises(InvalidFilter, match=option) as caught:
        TagFilter.of(**kwargs)
    assert isinstance(caught.value, RegistryError) and isinstance(caught.value, ValueError)


@given(
    tags=tag_lists,
    include=st.sampled_from([None, ".*", "v.*", "[0-9.]+", "a|b"]),
    exclude=st.sampled_from([None, "v.*", ".*-.*"]),
    semver=st.sampled_from([None, ">=1", "~0.1", "*"]),
    omit=st.booleans(),
)
def test_filtering_never_adds_and_keeps_order(
    tags: list[str], include: str | None, exclude: str | None, semver: str | None, omit: bool
) -> None:
    kept = filter_tags(tags, include=include, exclude=exclude, semver=semver, omit_digest_tags=omit)
    it = iter(tags)
    assert all(any(tag == other for other in it) for tag in kept)  # a subsequence of tags
    if exclude is not None:
        assert not any(re.fullmatch(exclude, tag) for tag in kept)


@given(tags=tag_lists)
def test_include_everything_is_identity(tags: list[str]) -> None:
    assert filter_tags(tags, include=".*") == tags
    assert filter_tags(tags) == tags
    assert TagFilter.of().is_everything


@given(text=st.text(max_size=12))
def test_any_expression_compiles_or_is_a_typed_error(text: str) -> None:
    for option in ("include", "exclude", "semver"):
        try:
            chosen = TagFilter.of(**{option: text})
        except InvalidFilter:
            continue
        chosen.apply(TAGS)


def _make(authority: str) -> ModelRegistry:
    model = ModelRegistry(authority, scheme="http")
    digest = model.push_image("w/app", "latest", {})
    for tag in TAGS:
        model.repositories["w/app"].tags[tag] = digest
    return model


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[LoopbackServer, ModelRegistry]]:
    server, model = serve_model(_make)
    with server:
        yield server, model


@pytest.mark.parametrize("driver", DRIVERS)
def test_every_client_filters_tags(
    driver: str, served: tuple[LoopbackServer, ModelRegistry]
) -> None:
    server, model = served
    ref = f"{server.authority}/w/app"

    async def scenario(client: Any) -> tuple[list[str], list[str], list[str], str]:
        # The harness's adapter forwards tags(ref) only; the blocking client itself takes more.
        target = client.client if isinstance(client, SyncAdapter) else client
        semver = await _call(target.tags, ref, semver=">=1.3", exclude="v.*")
        named = await _call(target.tags, ref, include="v1.*", omit_digest_tags=True)
        everything = await _call(target.tags, ref)
        try:
            await _call(target.tags, ref, include="(")
        except InvalidFilter as exc:
            return semver, named, everything, str(exc)
        return semver, named, everything, ""

    semver, named, everything, error = run_with(
        driver, scenario, insecure_registries=[server.authority], credentials=None, timeout=10
    )
    assert semver == ["1.3.0", "2.0.0"]
    assert named == ["v1", "v1-rc", "v10"]  # the registry's (lexical) order, kept
    assert everything == model.tag_list("w/app")
    assert "include" in error


async def _call(method: Any, *args: Any, **kwargs: Any) -> Any:
    result = method(*args, **kwargs)
    if hasattr(result, "__await__"):
        return await result
    return result


def test_tags_command_filters(
    served: tuple[LoopbackServer, ModelRegistry], capsys: pytest.CaptureFixture[str]
) -> None:
    server, _ = served
    ref = f"{server.authority}/w/app"

    def run(*argv: str) -> tuple[int, str, str]:
        status = main(["tags", ref, *argv, "--insecure", "--creds", ":"])
        out, err = capsys.readouterr()
        return status, out, err

    status, out, _ = run("--include", "v1.*", "--exclude", "v1-rc", "--json")
    assert status == 0 and json.loads(out) == ["v1", "v10"]
    status, out, _ = run("--semver", "~1.2")
    assert status == 0 and out.split() == ["1.2.3"]
    status, out, _ = run("--omit-digest-tags")
    assert status == 0 and not any(tag.startswith("sha256-") for tag in out.split())
    status, out, err = run("--include", "(")
    assert status == 2 and out == "" and "include" in err and len(err.splitlines()) == 1
    status, _, err = run("--semver", "nonsense!")
    assert status == 2 and "semver" in err
