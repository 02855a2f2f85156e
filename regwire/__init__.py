"""regwire: a client for Docker and OCI container registries, with a sans-IO core."""

from typing import TYPE_CHECKING, Any

from .sansio.auth import Credentials
from .sansio.errors import (
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
from .sansio.image import Image, ImageConfig
from .sansio.manifests import Manifest, Platform
from .sansio.reference import Reference

if TYPE_CHECKING:
    from .drivers.sync import Client

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Import the blocking driver (ssl, sockets, h11) only when `Client` is asked for."""
    if name == "Client":
        from .drivers.sync import Client

        return Client
    raise AttributeError(f"module 'regwire' has no attribute {name!r}")


__all__ = [
    "AuthenticationError",
    "Client",
    "BlobNotFound",
    "Credentials",
    "DigestMismatch",
    "Image",
    "ImageConfig",
    "ImageNotFound",
    "InvalidReference",
    "Manifest",
    "NetworkError",
    "NotFound",
    "Platform",
    "PlatformNotFound",
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
