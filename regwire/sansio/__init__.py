"""The pure protocol core: no sockets, no clock reads, no sleeping, no files, no environment."""

from . import errors
from .auth import Credentials, Token
from .challenges import Challenge, parse_challenges
from .drive import drive
from .errors import *  # noqa: F403 - the error tree, named once, in errors.__all__
from .events import (
    BodyChunk,
    ConnectionFailed,
    EndBody,
    Operation,
    ReadBody,
    ReadSource,
    Request,
    Response,
    RestartSink,
    SeekSource,
    SendBody,
    Sleep,
)
from .image import Image, ImageConfig
from .links import Link, next_link, parse_links
from .manifests import Descriptor, Manifest, Notices, Platform
from .names import RegistryURL, normalize_registry_name
from .ratelimit import RateLimit
from .reference import Reference
from .registry import Limits, Registry
from .tagfilter import TagFilter

__all__ = [
    *errors.__all__,
    "BodyChunk",
    "Challenge",
    "ConnectionFailed",
    "Credentials",
    "EndBody",
    "Descriptor",
    "Image",
    "ImageConfig",
    "Limits",
    "Link",
    "Manifest",
    "Notices",
    "Operation",
    "Platform",
    "RateLimit",
    "ReadBody",
    "ReadSource",
    "Reference",
    "RestartSink",
    "SeekSource",
    "Registry",
    "RegistryURL",
    "Request",
    "Response",
    "SendBody",
    "Sleep",
    "TagFilter",
    "Token",
    "drive",
    "next_link",
    "normalize_registry_name",
    "parse_challenges",
    "parse_links",
]
