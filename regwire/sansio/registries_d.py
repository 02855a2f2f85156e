"""``containers-registries.d(5)``: per-registry settings skopeo reads beside registries.conf.

Theory of operation. A registries.d directory holds YAML files, each a mapping with an optional
``default-docker`` section and a ``docker`` mapping from scopes (``host[:port]``, a namespace, a
repository, or a full reference with tag or digest) to sections. The files are merged, and a
scope (or ``default-docker``) may be configured in one file only: a second one is an error
naming both files, as containers/image's ``loadAndMergeConfig`` says.

The setting regwire needs is ``use-sigstore-attachments``: whether skopeo reads and writes
cosign's signatures (the ``sha256-<hex>.sig`` tags) for an image. As in containers/image's
``useSigstoreAttachments``, the scopes of the image are tried from the most specific (the same
list as a policy's, `regwire.sansio.policy.docker_scopes`), and the first section that *sets*
the key decides (a section that matches but leaves it unset defers to the next), then
``default-docker``, else false. Lookaside URLs (``lookaside``, ``lookaside-staging`` and their
deprecated ``sigstore`` spellings) are read and kept, as regwire does not use GPG lookaside
stores.

The YAML is read as containers/image's yaml.v3 reads it into its structure: unknown keys are
ignored, a duplicated key is an error, strings take any scalar's text, and a boolean also
accepts YAML 1.1's ``yes``/``no``/``on``/``off``/``y``/``n``. Only the first document of a file
counts. Reading the directory is `regwire.drivers.policy_files.load_registries_d`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from .errors import InvalidPolicy
from .policy import docker_scopes
from .reference import Reference

__all__ = ["RegistriesD", "Section"]

_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
# yaml.v3 accepts these strings when it decodes into a Go bool (YAML 1.1 compatibility).
_TRUE = frozenset({"y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE"})
_FALSE = frozenset({"n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE"})


@dataclass(frozen=True, slots=True)
class Section:
    """One configuration section: for a scope under ``docker``, or ``default-docker``."""

    lookaside: str = ""
    lookaside_staging: str = ""
    sigstore: str = ""  # the deprecated name of lookaside
    sigstore_staging: str = ""  # the deprecated name of lookaside-staging
    use_sigstore_attachments: bool | None = None  # None: not set here


@dataclass(frozen=True, slots=True)
class RegistriesD:
    """The merged registries.d configuration: ``default-docker``, and ``docker``'s (scope,
    section) pairs, each scope once, in the order the files gave them."""

    default_docker: Section | None = None
    docker: tuple[tuple[str, Section], ...] = ()

    @classmethod
    def parse(cls, documents: Sequence[tuple[str, bytes]]) -> RegistriesD:
        """Merge registries.d files given as (name, contents), in the order to read them.

        Raises:
            InvalidPolicy: a file is not YAML, holds a value of the wrong kind, or configures a
                scope (or ``default-docker``) that another file configures too; the message
                names the file(s).
        """
        default: Section | None = None
        default_from = ""
        docker: dict[str, Section] = {}
        docker_from: dict[str, str] = {}
        for name, data in documents:
            file_default, file_docker = _read(name, data)
            if file_default is not None:
                if default is not None:
                    raise InvalidPolicy(
                        name,
                        f'"default-docker" is defined both in {default_from} and in {name}; '
                        "keep one of them",
                    )
                default, default_from = file_default, name
            for scope, section in file_docker:
                if scope in docker:
                    raise InvalidPolicy(
                        name,
                        f'the "docker" scope "{scope}" is defined both in {docker_from[scope]} '
                        f"and in {name}; keep one of them",
                    )
                docker[scope], docker_from[scope] = section, name
        return cls(default, tuple(docker.items()))

    def use_sigstore_attachments(self, reference: Reference) -> bool:
        """Whether skopeo reads and writes sigstore attachments (cosign's ``.sig`` tags) for
        ``reference``: the most specific scope that sets it, then ``default-docker``, else no.
        """
        sections = dict(self.docker)
        for scope in docker_scopes(reference):
            section = sections.get(scope)
            if section is not None and section.use_sigstore_attachments is not None:
                return section.use_sigstore_attachments
        if self.default_docker is not None:
            return bool(self.default_docker.use_sigstore_attachments)
        return False


def _read(name: str, data: bytes) -> tuple[Section | None, list[tuple[str, Section]]]:
    """One file's ``default-docker`` and ``docker`` sections."""
    try:
        loader = yaml.SafeLoader(data)  # decoding starts here: bad bytes fail at once
        try:
            root = loader.get_node() if loader.check_node() else None
        finally:
            loader.dispose()
        top = _mapping(loader, name, root, "the file")
        default_node, docker_node = top.get("default-docker"), top.get("docker")
        default = (
            None
            if _is_null(default_node)
            else _section(loader, name, default_node, "default-docker")
        )
        sections = [
            (scope, _section(loader, name, node, f'docker["{scope}"]'))
            for scope, node in _mapping(loader, name, docker_node, "docker").items()
        ]
    except yaml.YAMLError as exc:
        raise InvalidPolicy(name, f"not valid YAML: {exc}") from None
    except RecursionError:
        raise InvalidPolicy(name, "not valid YAML: nested too deeply") from None
    return default, sections


def _is_null(node: yaml.Node | None) -> bool:
    return node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL)


def _mapping(
    loader: yaml.SafeLoader, name: str, node: yaml.Node | None, where: str
) -> dict[str, yaml.Node]:
    """A mapping's entries by key text (a null stands for an empty mapping, as in Go)."""
    if _is_null(node):
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise InvalidPolicy(name, f"{where} must be a mapping")
    loader.flatten_mapping(node)  # YAML merge keys (<<), which yaml.v3 honours too
    entries: dict[str, yaml.Node] = {}
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            raise InvalidPolicy(name, f"{where} has a key that is not a string")
        if key.value in entries:
            raise InvalidPolicy(name, f'{where} has the key "{key.value}" twice')
        entries[key.value] = value
    return entries


def _section(loader: yaml.SafeLoader, name: str, node: yaml.Node | None, where: str) -> Section:
    fields = _mapping(loader, name, node, where)
    texts: dict[str, str] = {}
    for key in ("lookaside", "lookaside-staging", "sigstore", "sigstore-staging"):
        value = fields.get(key)
        if _is_null(value):
            continue
        if not isinstance(value, yaml.ScalarNode):
            raise InvalidPolicy(name, f"{where}.{key} must be a string")
        texts[key] = value.value
    use: bool | None = None
    flag = fields.get("use-sigstore-attachments")
    if not _is_null(flag):
        if not isinstance(flag, yaml.ScalarNode) or flag.value not in _TRUE | _FALSE:
            raise InvalidPolicy(name, f"{where}.use-sigstore-attachments must be true or false")
        if flag.tag != _BOOL and flag.value in {"true", "True", "TRUE", "false", "False", "FALSE"}:
            # a quoted "true" is a string, which yaml.v3 refuses for a bool
            raise InvalidPolicy(name, f"{where}.use-sigstore-attachments must be true or false")
        use = flag.value in _TRUE
    return Section(
        lookaside=texts.get("lookaside", ""),
        lookaside_staging=texts.get("lookaside-staging", ""),
        sigstore=texts.get("sigstore", ""),
        sigstore_staging=texts.get("sigstore-staging", ""),
        use_sigstore_attachments=use,
    )
