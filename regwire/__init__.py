"""regwire: a client for Docker and OCI container registries, with a sans-IO core."""

from .drivers.sync import Client
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

__version__ = "0.1.0"

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
