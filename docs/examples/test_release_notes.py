"""A test of your own code against a registry: the ``model_registry`` fixture
(regwire's pytest plugin, installed with regwire) serves a writable registry on
loopback for each test."""

from regwire import Client
from regwire.testing.plugin import ServedRegistry


def publish_notes(client: Client, repository: str, version: str, text: str) -> str:
    """The code under test: push release notes as an artifact, tagged with the version."""
    return client.push_files(f"{repository}:{version}", [("NOTES.md", text.encode())])


def test_notes_are_published_under_their_version(model_registry: ServedRegistry) -> None:
    repository = f"{model_registry.authority}/team/notes"
    with Client(insecure_registries=[model_registry.authority]) as client:
        digest = publish_notes(client, repository, "1.2.0", "# 1.2.0\n")
        assert client.tags(repository) == ["1.2.0"]
        assert client.digest(f"{repository}:1.2.0") == digest
