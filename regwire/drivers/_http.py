"""What every driver shares: h11 framing, the OS/TLS error table, TLS contexts, logging.

Drivers differ only in how they wait for bytes; everything here is the same for all of them, so
it lives once. Nothing here makes a protocol decision: statuses, retries, redirects and
credentials are the core's.
"""

from __future__ import annotations

import logging
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import h11

from ..sansio.events import ConnectionFailed, FailureReason, Request

__all__ = [
    "USER_AGENT",
    "Endpoint",
    "TLSConfig",
    "failure",
    "h11_request",
    "log",
    "reason_for",
]

USER_AGENT = "regwire/0.1"
log = logging.getLogger("regwire")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a request goes: what a pooled connection is keyed by."""

    scheme: str
    host: str
    port: int
    verify: bool

    @classmethod
    def of(cls, request: Request) -> Endpoint:
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, host, port, request.verify or parts.scheme == "http")

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        return host if self.port == default else f"{host}:{self.port}"


def h11_request(request: Request, endpoint: Endpoint) -> h11.Request:
    parts = urlsplit(request.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = [("Host", endpoint.authority), ("User-Agent", USER_AGENT)]
    headers += list(request.headers)
    if request.body or request.method == "POST":
        headers.append(("Content-Length", str(len(request.body))))
    return h11.Request(method=request.method, target=target, headers=headers)


# The error table: the first matching class decides the reason (httpcore's map_exceptions).
_TABLE: tuple[tuple[type[BaseException], FailureReason], ...] = (
    (ConnectionRefusedError, "refused"),
    (socket.gaierror, "dns"),
    (ssl.SSLError, "tls"),
    (ssl.CertificateError, "tls"),
    (TimeoutError, "timeout"),
    (ConnectionResetError, "reset"),
    (ConnectionAbortedError, "reset"),
    (BrokenPipeError, "reset"),
    (EOFError, "reset"),
    (h11.RemoteProtocolError, "other"),
    (OSError, "other"),
)


def reason_for(exc: BaseException) -> FailureReason:
    for kind, reason in _TABLE:
        if isinstance(exc, kind):
            return reason
    return "other"


def failure(exc: BaseException) -> ConnectionFailed:
    return ConnectionFailed(reason_for(exc), str(exc) or type(exc).__name__)


class TLSConfig:
    """Builds and caches TLS contexts: system trust, a CA bundle, Docker's certs.d, cert_dir.

    For ``HOST[:PORT]`` we look in ``cert_dir`` (skopeo's ``--cert-dir``) if given, else in
    ``/etc/docker/certs.d/HOST[:PORT]/`` and ``/etc/containers/certs.d/HOST[:PORT]/``: ``*.crt``
    files are extra CAs, ``NAME.cert`` with ``NAME.key`` a client certificate.
    """

    CERTS_D = (Path("/etc/docker/certs.d"), Path("/etc/containers/certs.d"))

    def __init__(self, ca_file: str | None = None, cert_dir: str | None = None) -> None:
        self.ca_file, self.cert_dir = ca_file, cert_dir
        self._contexts: dict[tuple[str, bool], ssl.SSLContext] = {}

    def _directory(self, authority: str) -> Path | None:
        if self.cert_dir is not None:
            return Path(self.cert_dir)
        for root in self.CERTS_D:
            candidate = root / authority
            if candidate.is_dir():
                return candidate
        return None

    def context(self, endpoint: Endpoint) -> ssl.SSLContext:
        key = (endpoint.authority, endpoint.verify)
        context = self._contexts.get(key)
        if context is None:
            context = self._contexts[key] = self._build(endpoint)
        return context

    def _build(self, endpoint: Endpoint) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        context.set_alpn_protocols(["http/1.1"])
        if not endpoint.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        directory = self._directory(endpoint.authority)
        if directory is not None and directory.is_dir():
            for path in sorted(directory.iterdir()):
                if path.suffix == ".crt":
                    context.load_verify_locations(cafile=str(path))
                elif path.suffix == ".cert":
                    key = path.with_suffix(".key")
                    if not key.exists():
                        raise ssl.SSLError(f"client certificate {path} has no {key.name}")
                    context.load_cert_chain(str(path), str(key))
        return context
