"""The real CNCF distribution registry (``docker-registry``) and skopeo, for end-to-end tests.

Needs the Debian packages ``docker-registry`` and ``skopeo`` and the ``dev`` extra (bcrypt for
htpasswd hashes, cryptography to sign tokens, imported only when a registry needs them, so that
the installed package imports with its runtime dependency alone); the test suite and the
benchmarks share it.


`RealRegistry` writes a config into a temporary directory and runs ``docker-registry serve`` on
``127.0.0.1`` in one of three modes: no auth, htpasswd Basic, and token auth whose realm is a
token server of ours (`TokenServer`) that signs RS256 JWTs with a certificate the registry trusts
(``x5c`` header), as Docker Hub's does. Images are built as OCI layouts on disk and pushed with
``skopeo copy``. If the registry or skopeo is missing, we fail and say how to install them: these
tests never skip.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import http.client
import io
import json
import os
import shutil
import socket
import ssl
import subprocess
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from regwire.sansio.events import Request, Response
from regwire.testing.server import LoopbackServer

__all__ = [
    "PASSWORD",
    "USER",
    "RealRegistry",
    "TokenServer",
    "image_manifest",
    "index_descriptor",
    "require_tools",
    "write_layout",
]

Mode = Literal["none", "basic", "token"]
USER, PASSWORD = "alice", "wonderland-7"
READER, READER_PASSWORD = "reader", "only-pulls-9"  # the token server grants it pull alone
SERVICE, ISSUER = "regwire-test-registry", "regwire-test-issuer"
INSTALL = "install them with: apt-get install docker-registry skopeo (bash scripts/test does)"


def require_tools() -> None:
    missing = [tool for tool in ("docker-registry", "skopeo") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(f"{' and '.join(missing)} not found on PATH; {INSTALL}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class TokenServer:
    """A Docker token server: Basic credentials (or none) in, a signed JWT out."""

    def __init__(self, directory: Path, tls: ssl.SSLContext | None = None) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "regwire token signer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.bundle = directory / "token-root.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.requests: list[Request] = []
        self.server = LoopbackServer(self.handle, tls=tls)

    @property
    def realm(self) -> str:
        return f"{self.server.url}/token"

    def close(self) -> None:
        self.server.close()

    def _user(self, request: Request) -> str | bool | None:
        header = request.header("Authorization") or ""
        if not header:
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        if (user, password) in ((USER, PASSWORD), (READER, READER_PASSWORD)):
            return user
        return False

    def handle(self, request: Request) -> Response:
        self.requests.append(request)
        parts = urlsplit(request.url)
        if parts.path != "/token":
            return Response(404)
        user = self._user(request)
        if user is False:
            return Response(401, body=b'{"details":"bad credentials"}')
        query = parse_qs(parts.query)
        access = []
        for scope in query.get("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = actions.split(",")
            # Anonymous users and READER may pull; USER may do anything.
            granted = wanted if user == USER else [a for a in wanted if a == "pull"]
            access.append({"type": kind, "name": name, "actions": granted})
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        header = {
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()],
        }
        claims = {
            "iss": ISSUER,
            "sub": user or "",
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        token = f"{signing_input}.{_b64(signature)}"
        body = {
            "token": token,
            "access_token": token,
            "expires_in": 300,
            "issued_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        }
        return Response(200, (("Content-Type", "application/json"),), json.dumps(body).encode())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RealRegistry:
    """``docker-registry serve`` on 127.0.0.1, in one auth mode, in a temporary directory."""

    def __init__(
        self,
        directory: Path,
        mode: Mode,
        access_log: bool = False,
        tls: bool = False,
        *,
        deletes: bool = True,
    ) -> None:
        require_tools()
        self.directory, self.mode = directory, mode
        directory.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.authority = f"127.0.0.1:{self.port}"
        self.token_server: TokenServer | None = None
        self._client: Any = None  # a regwire Client, made at the first push
        self.server_tls: ssl.SSLContext | None = None
        self.ca_file: str | None = None
        tls_config = ""
        if tls:
            import trustme

            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost")
            self.ca_file = str(directory / "ca.pem")
            ca.cert_pem.write_to_path(self.ca_file)
            cert.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
            for extra in cert.cert_chain_pems[1:]:
                extra.write_to_path(str(directory / "cert.pem"), append=True)
            cert.private_key_pem.write_to_path(str(directory / "key.pem"))
            self.server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(self.server_tls)
            tls_config = (
                f"  tls:\n    certificate: {directory / 'cert.pem'}\n"
                f"    key: {directory / 'key.pem'}\n"
            )
        auth = ""
        if mode == "basic":
            import bcrypt

            hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
            (directory / "htpasswd").write_text(f"{USER}:{hashed}\n")
            auth = f"auth:\n  htpasswd:\n    realm: regwire\n    path: {directory / 'htpasswd'}\n"
        elif mode == "token":
            self.token_server = TokenServer(directory, self.server_tls)
            auth = (
                "auth:\n  token:\n"
                f"    realm: {self.token_server.realm}\n    service: {SERVICE}\n"
                f"    issuer: {ISSUER}\n    rootcertbundle: {self.token_server.bundle}\n"
            )
        self.scheme = "https" if tls else "http"
        config = directory / "config.yml"
        disabled = "false" if access_log else "true"
        config.write_text(
            f"version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: {disabled}\n"
            f"storage:\n  filesystem:\n    rootdirectory: {directory / 'data'}\n"
            f"  delete:\n    enabled: {'true' if deletes else 'false'}\n"
            f"http:\n  addr: {self.authority}\n  secret: regwire-test-secret\n{tls_config}{auth}"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        self.log = open(directory / "registry.log", "wb")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"docker-registry exited with {self.process.returncode}: "
                    + (self.directory / "registry.log").read_text()[-2000:]
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start listening within 20 s")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        if self._client is not None:
            self._client.close()
        if self.token_server is not None:
            self.token_server.close()

    def log_size(self) -> int:
        self.log.flush()
        return (self.directory / "registry.log").stat().st_size

    def requests_since(self, offset: int) -> int:
        """How many API requests the access log shows after ``offset`` (see `log_size`)."""
        with open(self.directory / "registry.log", "rb") as log:
            log.seek(offset)
            return sum(1 for line in log if b'"GET /v2/' in line or b'"HEAD /v2/' in line)

    def _push_auth(self, repository: str) -> dict[str, str]:
        basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.mode == "none":
            return {}
        if self.mode == "basic":
            return {"Authorization": basic}
        assert self.token_server is not None
        scope = f"repository:{repository}:pull,push"
        answer = self.token_server.handle(
            Request(
                "GET",
                f"{self.token_server.realm}?service={SERVICE}&scope={scope}",
                (("Authorization", basic),),
            )
        )
        return {"Authorization": "Bearer " + json.loads(answer.body)["token"]}

    def _api(
        self,
        method: str,
        path: str,
        body: Any = b"",
        headers: dict[str, str] | None = None,
        repository: str = "",
    ) -> tuple[int, dict[str, str]]:
        connection: http.client.HTTPConnection
        if self.scheme == "https":
            context = ssl.create_default_context(cafile=self.ca_file)
            connection = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=300, context=context
            )
        else:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            all_headers = {**self._push_auth(repository), **(headers or {})}
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}
        finally:
            connection.close()

    def put_manifest(self, repository: str, tag: str, raw: bytes, media_type: str) -> None:
        """Tag ``raw`` as ``repository:tag`` with regwire's own push (quicker than skopeo)."""
        from regwire.drivers.sync import Client
        from regwire.sansio.auth import Credentials

        if self._client is None:
            credentials = Credentials() if self.mode == "none" else Credentials(USER, PASSWORD)
            tls: dict[str, Any] = (
                {"ca_file": self.ca_file}
                if self.ca_file
                else {"insecure_registries": [self.authority]}
            )
            self._client = Client(credentials=credentials, **tls)
        registry = self._client._core.registry(self.authority)
        self._client.run(registry.push_manifest(repository, tag, raw, media_type))

    def put_blob(self, repository: str, path: Path) -> str:
        """Upload a file as a blob (monolithic upload) and return its digest.

        By hand with http.client until regwire's drivers stream sources (issue 14): the
        benchmark's blobs are 1 GiB files, which regwire's bytes path would hold whole.
        """
        digest = hashlib.sha256()
        with open(path, "rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                digest.update(chunk)
        name = "sha256:" + digest.hexdigest()
        status, headers = self._api(
            "POST", f"/v2/{repository}/blobs/uploads/", repository=repository
        )
        if status != 202:
            raise RuntimeError(f"starting an upload to {repository} answered {status}")
        location = headers["location"]
        target = location.split("127.0.0.1:" + str(self.port), 1)[-1]
        sep = "&" if "?" in target else "?"
        with open(path, "rb") as file:
            status, _ = self._api(
                "PUT",
                f"{target}{sep}digest={name}",
                file,
                {
                    "Content-Length": str(path.stat().st_size),
                    "Content-Type": "application/octet-stream",
                },
                repository,
            )
        if status != 201:
            raise RuntimeError(f"uploading {path.name} to {repository} answered {status}")
        return name

    def creds_args(self, flag: str) -> list[str]:
        return [] if self.mode == "none" else [flag, f"{USER}:{PASSWORD}"]

    def skopeo(self, *args: str, creds: str = "--creds") -> Any:
        done = subprocess.run(
            ["skopeo", *args[:1], *self.creds_args(creds), *args[1:]],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"skopeo {' '.join(args)} failed: {done.stderr.decode()[-2000:]}")
        return done.stdout

    def push(
        self,
        layout: Path,
        ref: str,
        *,
        tag: str = "latest",
        fmt: str | None = None,
        all_images: bool = False,
    ) -> None:
        args = ["copy", "--dest-tls-verify=false", "--quiet"]
        if fmt:
            args += ["--format", fmt]
        if all_images:
            args.append("--all")
        args += [f"oci:{layout}:{tag}", f"docker://{self.authority}/{ref}"]
        self.skopeo(*args, creds="--dest-creds")

    def inspect(self, ref: str, *extra: str) -> Any:
        out = self.skopeo(
            "inspect", "--tls-verify=false", *extra, f"docker://{self.authority}/{ref}"
        )
        return json.loads(out)

    def list_tags(self, repository: str) -> list[str]:
        out = self.skopeo(
            "list-tags", "--tls-verify=false", f"docker://{self.authority}/{repository}"
        )
        return list(json.loads(out)["Tags"])


# -- OCI layouts ---------------------------------------------------------------------------------


def _put(layout: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _layer(content: bytes, name: str) -> tuple[bytes, str]:
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        info.mtime = 1_700_000_000
        tar.addfile(info, io.BytesIO(content))
    raw = tar_bytes.getvalue()
    return gzip.compress(raw, mtime=0), "sha256:" + hashlib.sha256(raw).hexdigest()


def image_manifest(
    layout: Path,
    *,
    arch: str = "amd64",
    variant: str | None = None,
    config: dict[str, Any] | None = None,
    author: str = "",
    layers: int = 1,
    seed: str = "",
) -> dict[str, Any]:
    blobs, diff_ids = [], []
    for i in range(layers):
        gz, diff_id = _layer(f"{seed} {arch} layer {i}\n".encode() * 50, f"file{i}.txt")
        blobs.append(
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_put(layout, gz)}
        )
        diff_ids.append(diff_id)
    document: dict[str, Any] = {
        "created": "2024-03-04T05:06:07.123456789Z",
        "architecture": arch,
        "os": "linux",
        "config": config or {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-03-04T05:06:07Z", "created_by": "regwire tests"}] * layers,
    }
    if author:
        document["author"] = author
    if variant:
        document["variant"] = variant
    raw_config = json.dumps(document).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **_put(layout, raw_config),
        },
        "layers": blobs,
    }
    raw = json.dumps(manifest).encode()
    platform = {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}
    return {"mediaType": manifest["mediaType"], **_put(layout, raw), "platform": platform}


def write_layout(layout: Path, entries: dict[str, dict[str, Any]]) -> Path:
    """An OCI layout whose index.json tags each entry (``tag -> descriptor``)."""
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    manifests = [
        {
            **{k: v for k, v in d.items() if k != "platform"},
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }
        for tag, d in entries.items()
    ]
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))
    return layout


def index_descriptor(layout: Path, children: list[dict[str, Any]]) -> dict[str, Any]:
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": children,
    }
    return {"mediaType": index["mediaType"], **_put(layout, json.dumps(index).encode())}
