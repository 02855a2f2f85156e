"""regwire: a client for Docker and OCI container registries, with a sans-IO core."""

from .sansio.errors import (
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
from .sansio.reference import Reference

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "BlobNotFound",
    "DigestMismatch",
    "ImageNotFound",
    "InvalidReference",
    "NetworkError",
    "NotFound",
    "ProtocolError",
    "Reference",
    "RegistryError",
    "RegistryNotFound",
    "RepositoryNotFound",
    "ServerError",
    "TagNotFound",
    "TooLarge",
    "is_not_found",
]
