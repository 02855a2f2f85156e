"""regwire: a client for Docker and OCI container registries, with a sans-IO core."""

from typing import TYPE_CHECKING, Any

from .sansio import errors
from .sansio.auth import Credentials
from .sansio.edit_documents import EditRefused
from .sansio.editing import Edited
from .sansio.errors import *  # noqa: F403 - the error tree, named once, in errors.__all__
from .sansio.image import Image, ImageConfig
from .sansio.manifests import Descriptor, Manifest, Platform
from .sansio.policy import Policy
from .sansio.reference import Reference
from .sansio.signatures import VerifiedSignature

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
    *errors.__all__,
    "Client",
    "Credentials",
    "Descriptor",
    "EditRefused",
    "Edited",
    "Image",
    "ImageConfig",
    "Manifest",
    "Platform",
    "Policy",
    "Reference",
    "VerifiedSignature",
]
