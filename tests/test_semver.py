"""images-by-semver constraints, read as Masterminds/semver (skopeo sync's library) reads them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regwire.sansio.semver import Constraint, Version

TAGS = [
    "0.2.5", "0.3.0", "1", "1.2", "1.12.0", "1.13.0", "1.13.1", "1.13.2-alpine",
    "v1.14.0", "1.14.0-rc1", "2.0.0", "latest", "1.13.1+build.5", "01.2.3",
]  # fmt: skip


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        (">= 1.13.0 < 1.14", ["1.13.0", "1.13.1", "1.13.1+build.5"]),
        (">=1.13.0, <1.14", ["1.13.0", "1.13.1", "1.13.1+build.5"]),
        ("~1.13", ["1.13.0", "1.13.1", "1.13.1+build.5"]),
        ("~1", ["1", "1.2", "1.12.0", "1.13.0", "1.13.1", "v1.14.0", "1.13.1+build.5", "01.2.3"]),
        ("^1.13.0", ["1.13.0", "1.13.1", "v1.14.0", "1.13.1+build.5"]),
        ("^0.2", ["0.2.5"]),
        ("^0.2.5", ["0.2.5"]),
        ("1.13.x", ["1.13.0", "1.13.1", "1.13.1+build.5"]),
        ("1.13", ["1.13.0", "1.13.1", "1.13.1+build.5"]),
        (">1.13", ["v1.14.0", "2.0.0"]),
        ("<1.2", ["0.2.5", "0.3.0", "1"]),
        ("<=1.2", ["0.2.5", "0.3.0", "1", "1.2", "01.2.3"]),
        ("1.2 - 1.13.0", ["1.2", "1.12.0", "1.13.0", "01.2.3"]),
        ("=2.0.0", ["2.0.0"]),
        ("!=1.13.1, >=1.13", ["1.13.0", "v1.14.0", "2.0.0"]),
        ("1.12.0 || 2.x", ["1.12.0", "2.0.0"]),
        (">=1.14.0-rc0", ["v1.14.0", "1.14.0-rc1", "2.0.0"]),
        ("*", [t for t in TAGS if t not in ("latest", "1.13.2-alpine", "1.14.0-rc1")]),
        (">= 1.2.3, < 1.2.4", ["01.2.3"]),  # leading zeros read as Masterminds reads them
    ],
)
def test_constraints_select_what_masterminds_selects(constraint: str, expected: list[str]) -> None:
    chosen = [t for t in TAGS if Constraint.parse(constraint).admits(t)]
    assert sorted(chosen) == sorted(expected)


@pytest.mark.parametrize("text", ["", ">=", "1.2.3.4", "=> a", "1.2 ||", ">= 1.2 <", "~>x.y"])
def test_bad_constraints_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError, match="not a semver constraint"):
        Constraint.parse(text)


versions = st.builds(
    Version,
    st.integers(0, 5),
    st.integers(0, 5),
    st.integers(0, 5),
    st.lists(st.sampled_from(["rc", "1", "2", "alpha", "beta"]), max_size=2).map(tuple),
)


def text(v: Version) -> str:
    pre = "-" + ".".join(v.prerelease) if v.prerelease else ""
    return f"{v.major}.{v.minor}.{v.patch}{pre}"


@given(versions, versions)
def test_order_is_semver_precedence(a: Version, b: Version) -> None:
    assert Version.parse(text(a)) == a
    if (a.major, a.minor, a.patch) != (b.major, b.minor, b.patch):
        assert (a < b) == ((a.major, a.minor, a.patch) < (b.major, b.minor, b.patch))
    elif a.prerelease and not b.prerelease:
        assert a < b
    assert not (a < b and b < a)


@given(versions, versions)
def test_comparisons_agree_with_the_order(v: Version, bound: Version) -> None:
    if v.prerelease or bound.prerelease:
        return
    tag, at = text(v), text(bound)
    assert Constraint.parse(f">={at}").admits(tag) == (v >= bound)
    assert Constraint.parse(f">{at}").admits(tag) == (v > bound)
    assert Constraint.parse(f"<{at}").admits(tag) == (v < bound)
    assert Constraint.parse(f"<={at}").admits(tag) == (v <= bound)
    assert Constraint.parse(f"!={at}").admits(tag) == (v != bound)
    caret = Constraint.parse(f"^{at}").admits(tag)
    if bound.major:
        assert caret == (v >= bound and v.major == bound.major)
    tilde = Constraint.parse(f"~{at}").admits(tag)
    assert tilde == (v >= bound and (v.major, v.minor) == (bound.major, bound.minor))
    either = Constraint.parse(f"<{at} || >={at}")
    assert either.admits(tag)
