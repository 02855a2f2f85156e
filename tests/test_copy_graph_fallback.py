"""The referrers fallback index is never overwritten when it cannot be read (issue 25 item 6).

Pushing a referrer to a registry without the referrers API adds it to the subject's fallback
tag ``sha256-<hex>``. A fallback index the client could not decode (a Docker list type, an
annotation that is not a string) used to be replaced by a fresh index holding the new referrer
alone: 3 entries became 1, and the dropped referrers lost the tag that keeps them from garbage
collection. Now the push refuses, and the index keeps its entries.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from regwire import ProtocolError
from regwire.sansio import Registry, drive
from regwire.sansio.push import fallback_tag
from regwire.testing import FakeNetwork, ModelRegistry, Quirks
from tests.test_copy import _referrer

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def holding(kind: str) -> tuple[ModelRegistry, str, list[str], bytes]:
    """A model without the referrers API whose image has 3 referrers listed in a fallback
    index the client cannot decode (``kind``); returns the model, the image, the referrers
    and the 4th referrer's bytes (not pushed yet)."""
    model = ModelRegistry("reg.test", quirks=Quirks(referrers_api=False))
    image = model.push_image("team/app", "1", None, [b"layer"])
    referrers = [_referrer(model, "team/app", image, f"sbom {i}".encode()) for i in range(4)]
    repo = model.repositories["team/app"]
    fourth = repo.manifests.pop(referrers.pop())[1]
    entries: list[dict[str, Any]] = [
        {
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": len(repo.manifests[digest][1]),
            "artifactType": "application/spdx+json",
            "annotations": {"n": i if kind == "annotation" else str(i)},
        }
        for i, digest in enumerate(referrers)
    ]
    media_type = DOCKER_LIST if kind == "docker-list" else OCI_INDEX
    index = json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": entries})
    model.put_manifest("team/app", index.encode(), media_type, fallback_tag(image))
    return model, image, referrers, fourth


@pytest.mark.parametrize("kind", ["docker-list", "annotation"])
def test_a_fallback_index_that_cannot_be_read_is_not_overwritten(kind: str) -> None:
    model, image, referrers, fourth = holding(kind)
    tag = fallback_tag(image)
    before = model.repositories["team/app"].tags[tag]
    net = FakeNetwork(model.handle)
    registry = Registry("reg.test", clock=net.clock)
    with pytest.raises(ProtocolError, match="fallback") as caught:
        drive(registry.push_manifest("team/app", "", fourth, OCI_MANIFEST), net)
    assert tag in str(caught.value) and "3" in str(caught.value)
    repo = model.repositories["team/app"]
    assert repo.tags[tag] == before  # the 3 referrers keep their tag
    listed = json.loads(repo.manifests[before][1])["manifests"]
    assert [e["digest"] for e in listed] == referrers


def test_an_absent_fallback_tag_still_gets_a_fresh_index() -> None:
    model = ModelRegistry("reg.test", quirks=Quirks(referrers_api=False))
    image = model.push_image("team/app", "1", None, [b"layer"])
    sbom = _referrer(model, "team/app", image, b"sbom")
    raw = model.repositories["team/app"].manifests.pop(sbom)[1]
    net = FakeNetwork(model.handle)
    registry = Registry("reg.test", clock=net.clock)
    assert drive(registry.push_manifest("team/app", "", raw, OCI_MANIFEST), net) == sbom
    repo = model.repositories["team/app"]
    listed = json.loads(repo.manifests[repo.tags[fallback_tag(image)]][1])["manifests"]
    assert [e["digest"] for e in listed] == [sbom]
    assert [d.digest for d in drive(registry.referrers("team/app", image), net)] == [sbom]
