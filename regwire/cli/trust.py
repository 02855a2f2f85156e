"""The subcommands that sign images and decide whether to trust them: ``sign`` and
``verify`` (``generate-key`` is in `regwire.cli.keys`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..drivers.sync import Client
from ..sansio.reference import Reference
from .common import Subcommand, UsageError, on_one_reference, print_json

__all__ = ["SUBCOMMANDS", "parse_annotations"]


def parse_annotations(pairs: list[str] | None) -> dict[str, str]:
    """``--annotation K=V`` flags as a mapping (a usage error for one without ``=``)."""
    found: dict[str, str] = {}
    for pair in pairs or []:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise UsageError(f"--annotation {pair!r}: expected KEY=VALUE")
        found[name] = value
    return found


def _add_sign(sub: Any, common: argparse.ArgumentParser) -> None:
    sign = sub.add_parser(
        "sign",
        parents=[common],
        help="sign an image with a key, as cosign sign --key does",
        description="Sign the manifest IMAGE names (an index's own digest for an index) and "
        "store the signature as cosign does: a layer of the sha256-<hex>.sig manifest beside the "
        "image, appended to the signatures already there. The payload claims the full reference "
        "signed (docker.io/library/alpine:3 for alpine:3) unless --sign-identity says otherwise. "
        "Prints the digest signed. Needs regwire[sign].",
    )
    sign.add_argument("image", metavar="IMAGE")
    sign.add_argument("--key", required=True, metavar="KEY", help="cosign's encrypted private key")
    sign.add_argument(
        "--passphrase-file",
        metavar="FILE",
        help="the key's passphrase (else $COSIGN_PASSWORD, else a prompt on a terminal)",
    )
    sign.add_argument(
        "-a",
        "--annotation",
        action="append",
        metavar="KEY=VALUE",
        help="put KEY=VALUE in the payload's optional part (repeatable)",
    )
    sign.add_argument(
        "--sign-identity", metavar="REF", help="the reference the signature claims (skopeo's)"
    )


def _sign(args: argparse.Namespace) -> int:
    from ..keys import obtain_passphrase, require_sign_extra

    require_sign_extra("signing")  # before a passphrase is asked for
    notes = parse_annotations(args.annotation)
    identity = _identity(args.sign_identity)
    passphrase = obtain_passphrase(args.passphrase_file, confirm=False)

    def action(client: Client, ref: Reference, text: str) -> None:
        digest = client.sign(
            text, args.key, passphrase=passphrase, identity=identity, annotations=notes
        )
        sys.stdout.write(digest + "\n")

    return on_one_reference(args, action, writing=True)


def _identity(text: str | None) -> str | None:
    """``--sign-identity`` normalised as the payload writes references (docker.io/library/...)."""
    if text is None:
        return None
    ref = Reference.parse(text.removeprefix("docker://"))
    return str(ref)


def _add_verify(sub: Any, common: argparse.ArgumentParser) -> None:
    verify = sub.add_parser(
        "verify",
        parents=[common],
        help="check an image's signatures with a key, a keyless signer or a policy.json",
        description="Check the signatures stored for the manifest IMAGE names. With --key, a "
        "signature is trusted when the key verifies it, its payload names the manifest's digest "
        "and its signed reference names IMAGE's repository. With --policy, every requirement "
        "of the policy scope that applies to IMAGE must hold, as skopeo and podman decide. "
        "With --certificate-identity and --certificate-oidc-issuer (or their -regexp forms), a "
        "keyless signature is trusted when its Fulcio certificate names that signer, chains to "
        "a Fulcio root of the trusted root and was valid when a trusted transparency log "
        "recorded the signature. Signatures are read from cosign's sha256-<hex>.sig tag and "
        "from Sigstore bundles attached as OCI referrers (with --key, when the tag has none "
        "trusted). Prints the signatures trusted; exits 6 naming each reason when none is. "
        "Needs regwire[sign] (regwire[sigstore] for keyless signatures).",
    )
    verify.add_argument("image", metavar="IMAGE")
    how = verify.add_mutually_exclusive_group(required=True)
    how.add_argument("--key", action="append", metavar="PUB", help="a public key (PEM; repeatable)")
    how.add_argument("--policy", metavar="FILE", help="a containers-policy.json")
    how.add_argument(
        "--certificate-identity",
        metavar="ID",
        help="keyless: the signer's identity in its Fulcio certificate (an e-mail, a workflow URL)",
    )
    how.add_argument(
        "--certificate-identity-regexp",
        metavar="RE",
        help="keyless: a regular expression the identity matches (anywhere: anchor with ^$)",
    )
    verify.add_argument(
        "--certificate-oidc-issuer",
        metavar="URL",
        help="keyless: the OIDC issuer of the signer's identity "
        "(https://token.actions.githubusercontent.com for GitHub Actions)",
    )
    verify.add_argument(
        "--certificate-oidc-issuer-regexp",
        metavar="RE",
        help="keyless: a regular expression the OIDC issuer matches",
    )
    verify.add_argument(
        "--trusted-root",
        metavar="FILE",
        help="keyless: a Sigstore trusted_root.json to verify against, offline (default: the "
        "public Sigstore instance's, fetched over the network)",
    )
    verify.add_argument(
        "--signed-identity",
        metavar="REPO",
        help="with --key or a certificate identity: the repository signatures must name "
        "(default: IMAGE's; for an image verified where it was copied to)",
    )
    verify.add_argument(
        "--registries.d",
        dest="registries_d",
        metavar="DIR",
        help="with --policy: read signatures only where this registries.d turns on "
        "use-sigstore-attachments, as skopeo does (default: always, as cosign does)",
    )
    verify.add_argument("--json", action="store_true", help="the trusted signatures as JSON")


def _verify(args: argparse.Namespace) -> int:
    if args.registries_d and not args.policy:
        raise UsageError("--registries.d goes with --policy")
    if args.signed_identity and args.policy:
        raise UsageError(
            "--signed-identity goes with --key or a certificate identity; a policy says which "
            "identities it accepts"
        )
    keyless = args.certificate_identity is not None or args.certificate_identity_regexp is not None
    issuer = args.certificate_oidc_issuer or args.certificate_oidc_issuer_regexp
    if keyless and not issuer:
        raise UsageError(
            "a keyless verification needs --certificate-oidc-issuer or "
            "--certificate-oidc-issuer-regexp"
        )
    if not keyless and (issuer or args.trusted_root):
        raise UsageError(
            "--certificate-oidc-issuer and --trusted-root go with --certificate-identity "
            "(or --certificate-identity-regexp)"
        )
    if keyless:
        from ..keyless import require_sigstore_extra

        require_sigstore_extra("keyless verification")
        if args.trusted_root is None:
            sys.stderr.write(
                "regwire: no --trusted-root: fetching the public Sigstore instance's trusted "
                "root (needs the network)\n"
            )

    def action(client: Client, ref: Reference, text: str) -> None:
        if args.key:
            found = client.verify(text, key=args.key, identity=args.signed_identity)
        elif keyless:
            found = client.verify(
                text,
                identity=args.signed_identity,
                certificate_identity=args.certificate_identity,
                certificate_identity_regexp=args.certificate_identity_regexp,
                certificate_oidc_issuer=args.certificate_oidc_issuer,
                certificate_oidc_issuer_regexp=args.certificate_oidc_issuer_regexp,
                trusted_root=args.trusted_root,
            )
        else:
            found = client.verify(text, policy=args.policy, registries_d=args.registries_d)
        if args.json:
            print_json([signature.to_json() for signature in found])
            return
        if not found:
            sys.stdout.write(f"{ref}: accepted by the policy without a signature\n")
        for signature in found:
            sys.stdout.write(
                f"{signature.digest}\tsigned as {signature.reference}\tby {signature.key}\n"
            )

    return on_one_reference(args, action)


SUBCOMMANDS = (
    Subcommand("sign", _add_sign, _sign),
    Subcommand("verify", _add_verify, _verify),
)
