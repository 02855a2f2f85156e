"""Workloads 11 and 12: the corpus saved to an OCI layout and pushed back; an artifact of 10
small files pushed, as a process.

11: regwire copies each image to ``oci:DIR:NAME`` (one layout, a tag per image) and then from
the layout to a second namespace of the registry, in one process per direction (as a script
would, with one client); skopeo copies each image in a process of its own, both ways (skopeo's
``oci:`` transport writes OCI formats only, so it converts the Docker images: ``--all`` without
``--preserve-digests``). 12: ``regwire push REF FILE...`` against oras-py's ``push`` (each a
fresh Python process, imports included: what a CI step pays).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path


def _name(ref: str) -> str:
    return ref.rsplit("/", 1)[1].replace(":", "-")


def _cert_dir(ca_file: str | None) -> str | None:
    if not ca_file:
        return None
    directory = tempfile.mkdtemp(prefix="bench-certs-")
    os.symlink(ca_file, os.path.join(directory, "ca.crt"))
    return directory


def regwire_layout_round_trip(
    ca_file: str | None, authority: str, refs: list[str], prefix: str
) -> list[str]:
    """Save every image to one layout, then push every one back; the digests pushed back."""
    import regwire

    directory = Path(tempfile.mkdtemp(prefix="bench-layout-"))
    tls: dict[str, object] = (
        {"ca_file": ca_file} if ca_file else {"insecure_registries": [authority]}
    )
    with regwire.Client(**tls, credentials=None) as client:  # type: ignore[arg-type]
        for ref in refs:
            client.copy(f"{authority}/{ref}", f"oci:{directory}:{_name(ref)}")
        return [
            client.copy(f"oci:{directory}:{_name(ref)}", f"{authority}/{prefix}/{_name(ref)}:1")
            for ref in refs
        ]


def skopeo_layout_round_trip(
    ca_file: str | None, authority: str, refs: list[str], prefix: str
) -> None:
    directory = Path(tempfile.mkdtemp(prefix="bench-skopeo-layout-"))
    certs = _cert_dir(ca_file)
    src = [f"--src-cert-dir={certs}"] if certs else ["--src-tls-verify=false"]
    dst = [f"--dest-cert-dir={certs}"] if certs else ["--dest-tls-verify=false"]
    for ref in refs:
        subprocess.run(
            ["skopeo", "copy", "--all", "--quiet", *src,
             f"docker://{authority}/{ref}", f"oci:{directory}:{_name(ref)}"],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip
    for ref in refs:
        subprocess.run(
            ["skopeo", "copy", "--all", "--quiet", *dst,
             f"oci:{directory}:{_name(ref)}", f"docker://{authority}/{prefix}/{_name(ref)}:1"],
            check=True, capture_output=True, timeout=600,
        )  # fmt: skip


def write_files(count: int = 10) -> list[Path]:
    directory = Path(tempfile.mkdtemp(prefix="bench-artifact-"))
    paths = []
    for i in range(count):
        path = directory / f"file{i:02}.txt"
        path.write_bytes(f"artifact file {i}\n".encode() * 100)
        paths.append(path)
    return paths


def regwire_push_artifact(authority: str, paths: list[Path], ref: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "regwire", "push", f"{authority}/{ref}", *map(str, paths),
         "--artifact-type", "application/vnd.example.bench", "--insecure"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def oras_push_artifact(authority: str, paths: list[Path], ref: str) -> None:
    script = (
        "import sys, oras.client\n"
        "c = oras.client.OrasClient(hostname=sys.argv[1], insecure=True)\n"
        "c.push(target=sys.argv[1] + '/' + sys.argv[2], files=sys.argv[3:], quiet=True,"
        " disable_path_validation=True)\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, authority, ref, *map(str, paths)],
        check=True, capture_output=True, timeout=120, cwd=str(paths[0].parent),
    )  # fmt: skip
