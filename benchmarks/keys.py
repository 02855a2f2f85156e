"""``python -m benchmarks.keys [--checks N] [--repeats N] [--smoke] [--json FILE]``: key checks.

The CPU one signature check costs (issue 27: "the CPU of one signature check", target under
1 ms), per key type cosign uses: ECDSA P-256 (cosign's default), P-384, P-521, RSA 2048, 3072
and 4096 bits, and Ed25519. The payload is a cosign simple-signing payload of the usual size,
signed by `regwire.keys` as ``regwire sign`` signs it.

Rows, per key type:

- ``regwire verifies`` : `regwire.keys.VerifyingKey.verifies` on a good signature, what
  ``verify`` pays per signature that verifies;
- ``regwire rejects``  : the same on a signature by another key of the same type, what a
  signature that fails costs;
- ``cryptography``     : the ``cryptography`` call alone (``key.verify``), the floor: what
  regwire adds is the difference.

And, once: ``load_public_key`` of a PEM public key (done once per key file, not per check) and
the decryption of an encrypted private key (scrypt with N=2^15, once per ``sign``).

CPU time is ``time.process_time`` around ``--checks`` checks in a row, divided by their number;
the figure is the median of ``--repeats`` such runs (the best is shown too). ``--smoke`` is a
quick run a test can call (a few checks each); no timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

TARGET_US = 1000.0  # the target: a key check under 1 ms of CPU

# A simple-signing payload as cosign writes it for an image (about 250 bytes).
PAYLOAD = (
    b'{"critical":{"identity":{"docker-reference":"registry.example.com/team/app"},'
    b'"image":{"docker-manifest-digest":"sha256:'
    + b"0123456789abcdef" * 4
    + b'"},"type":"cosign container image signature"},"optional":{"creator":"regwire"}}'
)

KINDS = ("ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519")


def _private(kind: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    curves: dict[str, ec.EllipticCurve] = {
        "ecdsa-p256": ec.SECP256R1(),
        "ecdsa-p384": ec.SECP384R1(),
        "ecdsa-p521": ec.SECP521R1(),
    }
    if kind in curves:
        return ec.generate_private_key(curves[kind])
    if kind.startswith("rsa-"):
        return rsa.generate_private_key(65537, int(kind.removeprefix("rsa-")))
    return ed25519.Ed25519PrivateKey.generate()


def _pem_pair(private: Any) -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives import serialization

    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def _raw_check(private: Any, signature: bytes) -> Callable[[], None]:
    """The ``cryptography`` call that checks ``signature`` for this kind of key, alone."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    public = private.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        return lambda: public.verify(signature, PAYLOAD, ec.ECDSA(hashes.SHA256()))
    if isinstance(public, rsa.RSAPublicKey):
        return lambda: public.verify(signature, PAYLOAD, padding.PKCS1v15(), hashes.SHA256())
    return lambda: public.verify(signature, PAYLOAD)


def cpu_us(call: Callable[[], object], checks: int, repeats: int) -> tuple[float, float]:
    """(median, best) CPU microseconds of one ``call``, over ``repeats`` runs of ``checks``."""
    samples = []
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(checks):
            call()
        samples.append((time.process_time() - started) / checks * 1e6)
    return statistics.median(samples), min(samples)


def run(checks: int = 2000, repeats: int = 5) -> list[dict[str, Any]]:
    """Every row of the table, as dicts (``kind``, ``what``, ``median_us``, ``best_us``)."""
    from regwire.keys import generate_key, load_private_key, load_public_key

    rows: list[dict[str, Any]] = []

    def row(kind: str, what: str, call: Callable[[], object], n: int = checks) -> None:
        median, best = cpu_us(call, n, repeats)
        rows.append({"kind": kind, "what": what, "median_us": median, "best_us": best})

    for kind in KINDS:
        private = _private(kind)
        private_pem, public_pem = _pem_pair(private)
        signer = load_private_key(private_pem, b"")
        public = load_public_key(public_pem)
        signature = signer.sign(PAYLOAD)
        stranger = load_private_key(_pem_pair(_private(kind))[0], b"").sign(PAYLOAD)
        assert public.verifies(PAYLOAD, signature)
        assert not public.verifies(PAYLOAD, stranger)
        row(kind, "regwire verifies", partial(public.verifies, PAYLOAD, signature))
        row(kind, "regwire rejects", partial(public.verifies, PAYLOAD, stranger))
        row(kind, "cryptography", _raw_check(private, signature))

    _, public_pem = _pem_pair(_private("ecdsa-p256"))
    row("ecdsa-p256", "load_public_key (once per key)", partial(load_public_key, public_pem))
    encrypted, _ = generate_key(b"passphrase")
    row(
        "ecdsa-p256",
        "decrypt cosign.key (once per sign)",
        partial(load_private_key, encrypted, b"passphrase"),
        max(1, checks // 400),
    )
    return rows


def report(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a Markdown table, with the target checked for the per-signature rows."""
    lines = [
        "| key | what | CPU per call (median) | best | target < 1 ms |",
        "|---|---|---|---|---|",
    ]
    for item in rows:
        per_signature = item["what"].startswith("regwire")
        met = ("met" if item["median_us"] < TARGET_US else "NOT MET") if per_signature else ""
        lines.append(
            f"| {item['kind']} | {item['what']} | {_us(item['median_us'])} | "
            f"{_us(item['best_us'])} | {met} |"
        )
    return "\n".join(lines)


def _us(value: float) -> str:
    return f"{value / 1000:.1f} ms" if value >= 10_000 else f"{value:.0f} us"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.keys", description=__doc__)
    parser.add_argument("--checks", type=int, default=2000, help="checks per run (default 2000)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per row (default 5)")
    parser.add_argument("--smoke", action="store_true", help="a quick run (a few checks)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    checks, repeats = (8, 1) if args.smoke else (args.checks, args.repeats)
    rows = run(checks, repeats)
    sys.stdout.write(report(rows) + "\n")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(rows, file, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
