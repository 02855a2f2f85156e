"""The pure protocol core: no sockets, no clock reads, no sleeping, no files, no environment."""

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
    ProtocolError,
    RegistryError,
    RegistryNotFound,
    RepositoryNotFound,
    ServerError,
    TagNotFound,
    TooLarge,
    is_not_found,
)
from .events import ConnectionFailed, Operation, Request, Response, Sleep
from .links import Link, next_link, parse_links
from .reference import Reference

__all__ = [
    "AuthenticationError",
    "BlobNotFound",
    "Challenge",
    "ConnectionFailed",
    "DigestMismatch",
    "ImageNotFound",
    "InvalidReference",
    "Link",
    "NetworkError",
    "NotFound",
    "Operation",
    "ProtocolError",
    "Reference",
    "RegistryError",
    "RegistryNotFound",
    "RepositoryNotFound",
    "Request",
    "Response",
    "ServerError",
    "Sleep",
    "TagNotFound",
    "TooLarge",
    "drive",
    "is_not_found",
    "next_link",
    "parse_challenges",
    "parse_links",
]
