"""flatten's decision, which layer entries the final filesystem keeps, against a model that
applies the layers one after another (image-spec ``layer.md``: whiteouts, opaque directories,
a file replacing a directory)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from regwire.sansio.edit_layers import OPAQUE, WHITEOUT, LayerEntry, kept_entries, normalize_name

paths = st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3).map("/".join)


@st.composite
def layer(draw: st.DrawFn) -> list[LayerEntry]:
    """A layer as a tar holds one: each file's directories before it (as directories),
    whiteouts and opaque markers, an entry repeated now and then (the last one wins)."""
    leaves = draw(st.dictionaries(paths, st.booleans(), max_size=5))  # path -> is a directory
    kinds: dict[str, bool] = {}
    for path, directory in sorted(leaves.items()):
        parts = path.split("/")
        for i in range(1, len(parts)):
            kinds["/".join(parts[:i])] = True
        kinds.setdefault(path, directory)
    entries = [LayerEntry(p, d) for p, d in sorted(kinds.items())]
    for target in draw(st.lists(paths, max_size=2)):
        parent, _, base = target.rpartition("/")
        entries.append(LayerEntry(f"{parent}/{WHITEOUT}{base}" if parent else WHITEOUT + base))
    for target in draw(st.lists(st.sampled_from(["", "a", "b", "a/b"]), max_size=1)):
        entries.append(LayerEntry(f"{target}/{OPAQUE}" if target else OPAQUE))
    if entries and draw(st.booleans()):
        entries.append(
            draw(st.sampled_from([e for e in entries if WHITEOUT not in e.name] or entries))
        )
    return entries


def _under(path: str, parent: str) -> bool:
    return not parent or path.startswith(parent + "/")


def model(layers: list[list[LayerEntry]]) -> dict[str, tuple[int, int]]:
    """The layers applied bottom up, as a runtime would: a layer's whiteouts first (they speak
    of the layers below), then its entries (the last of a name wins)."""
    fs: dict[str, tuple[int, int, bool]] = {}
    for index, entries in enumerate(layers):
        for entry in entries:
            parent, _, base = entry.name.rpartition("/")
            if base == OPAQUE:
                fs = {p: v for p, v in fs.items() if not _under(p, parent)}
            elif base.startswith(WHITEOUT):
                gone = f"{parent}/{base[len(WHITEOUT) :]}" if parent else base[len(WHITEOUT) :]
                fs = {p: v for p, v in fs.items() if p != gone and not _under(p, gone)}
        for at, entry in enumerate(entries):
            if entry.name.rpartition("/")[2].startswith(WHITEOUT):
                continue
            old = fs.get(entry.name)
            if old is not None and old[0] < index and not (old[2] and entry.directory):
                fs = {p: v for p, v in fs.items() if not _under(p, entry.name)}
            fs[entry.name] = (index, at, entry.directory)
    return {p: (i, at) for p, (i, at, _) in fs.items()}


@settings(max_examples=300, deadline=None)
@given(st.lists(layer(), min_size=1, max_size=4))
def test_the_entries_kept_are_the_filesystem_the_layers_make(
    layers: list[list[LayerEntry]],
) -> None:
    kept = kept_entries(layers)
    found = {layers[i][at].name: (i, at) for i, positions in enumerate(kept) for at in positions}
    assert sum(len(k) for k in kept) == len(found)  # one entry per path
    assert found == model(layers)


@given(st.lists(st.sampled_from(["", ".", "a", "b", "./", "/"]), max_size=6))
def test_names_normalise_to_the_path_the_filesystem_sees(parts: list[str]) -> None:
    name = "/".join(parts)
    normal = normalize_name(name)
    assert not normal.startswith("/") and not normal.endswith("/") and "//" not in normal
    assert normalize_name(normal) == normal
    assert normal.split("/") == [p for p in name.split("/") if p not in ("", ".")] or normal == ""
