"""The pure protocol core: no sockets, no clock reads, no sleeping, no files, no environment."""

from .auth import Credentials, Token
from .challenges import Challenge, parse_challenges
from .drive import drive
from .errors import (
    AuthenticationError,
    BlobNotFound,
    DigestMismatch,
    ImageNotFound,
    InvalidReference,
    NetworkError,
    NotFound,
    PlatformNotFound,
    ProtocolError,
    RegistryError,
    RegistryNotFound,
    RepositoryNotFound,
    ServerError,
    TagNotFound,
    TooLarge,
    is_not_found,
)
from .events import BodyChunk, ConnectionFailed, Operation, ReadBody, Request, Response, Sleep
from .image import Image, ImageConfig
from .links import Link, next_link, parse_links
from .manifests import Descriptor, Manifest, Notices, Platform
from .names import RegistryURL, normalize_registry_name
from .reference import Reference
from .registry import Limits, Registry

__all__ = [
    "AuthenticationError",
    "BlobNotFound",
    "BodyChunk",
    "Challenge",
    "ConnectionFailed",
    "Credentials",
    "Descriptor",
    "DigestMismatch",
    "Image",
    "ImageConfig",
    "ImageNotFound",
    "InvalidReference",
    "Limits",
    "Link",
    "Manifest",
    "NetworkError",
    "NotFound",
    "Notices",
    "Operation",
    "Platform",
    "PlatformNotFound",
    "ProtocolError",
    "ReadBody",
    "Reference",
    "Registry",
    "RegistryError",
    "RegistryNotFound",
    "RegistryURL",
    "RepositoryNotFound",
    "Request",
    "Response",
    "ServerError",
    "Sleep",
    "TagNotFound",
    "Token",
    "TooLarge",
    "drive",
    "is_not_found",
    "next_link",
    "normalize_registry_name",
    "parse_challenges",
    "parse_links",
]
