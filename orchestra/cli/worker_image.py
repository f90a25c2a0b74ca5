"""`orchestra worker-image build|dockerfile`: the image agent steps run in, from the Dockerfile
shipped inside the package (``orchestra/templates/worker.Dockerfile``), so a pip install has it.

The build context is the Dockerfile alone (nothing of the user's repository is sent). The host's
extra CA certificates go in as the build argument ``EXTRA_CA_CERTS`` (networks that inspect TLS
on the way to PyPI); certificates are public, nothing secret is passed.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Callable, Iterable, Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

from orchestra.errors import ConfigError, RuntimeUnavailableError

DEFAULT_TAG = "orchestra-worker:latest"
DEFAULT_BASE = "orchestra-base:bookworm"
#: The agent CLIs the image can hold. aider, Claude Code and Codex come from PyPI and are in by
#: default; OpenCode needs npm (Node from Debian) and is added with ``--with opencode``.
AGENT_CLIS = ("aider", "claude", "codex", "opencode")
DEFAULT_CLIS = ("aider", "claude", "codex")
CA_DIR = Path("/usr/local/share/ca-certificates")


def dockerfile_text() -> str:
    """The worker Dockerfile shipped in the package."""
    return (files("orchestra") / "templates" / "worker.Dockerfile").read_text(encoding="utf-8")


#: Variables that name the host's CA bundle, when it has no extra certificates in ``CA_DIR``.
CA_FILE_VARS = ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE")
#: A build argument travels in one environment string (Linux caps one at 128 KiB).
MAX_CA_BYTES = 100_000


def extra_ca_certs(environ: Mapping[str, str] | None = None, ca_dir: Path = CA_DIR) -> str:
    """PEM text of ``EXTRA_CA_CERTS``, else of the host's ``*.crt`` under ``ca_dir``, else of the
    file ``SSL_CERT_FILE``/``PIP_CERT``/``REQUESTS_CA_BUNDLE`` names when small enough (the
    same order as scripts/stack-up.sh)."""
    env = os.environ if environ is None else environ
    if env.get("EXTRA_CA_CERTS"):
        return env["EXTRA_CA_CERTS"]
    if ca_dir.is_dir():
        found = "".join(p.read_text(encoding="utf-8") for p in sorted(ca_dir.rglob("*.crt")))
        if found:
            return found
    for name in CA_FILE_VARS:
        bundle = Path(env.get(name) or "/nonexistent")
        if bundle.is_file() and bundle.stat().st_size <= MAX_CA_BYTES:
            return bundle.read_text(encoding="utf-8")
    return ""


def build_args(
    base: str, clis: Iterable[str], *, aider: bool = True, without: Iterable[str] = ()
) -> dict[str, str]:
    """The Dockerfile's build arguments for ``base``: the default CLIs (aider, Claude Code,
    Codex), plus ``clis`` (``--with``), minus ``without`` (and aider unless ``aider``)."""
    chosen = {c.strip() for c in clis if c.strip()}
    dropped = {c.strip() for c in without if c.strip()} | (set() if aider else {"aider"})
    unknown = sorted((chosen | dropped) - set(AGENT_CLIS))
    if unknown:
        msg = (
            f"unknown agent CLI {', '.join(map(repr, unknown))} for --with/--without; "
            f"use {', '.join(AGENT_CLIS)}"
        )
        raise ConfigError(msg)
    wanted = (set(DEFAULT_CLIS) | chosen) - dropped
    args = {"BASE_IMAGE": base}
    args |= {f"INSTALL_{cli.upper()}": "1" if cli in wanted else "0" for cli in AGENT_CLIS}
    certs = extra_ca_certs()
    if certs:
        args["EXTRA_CA_CERTS"] = certs
    return args


def _context(dockerfile: str) -> io.BytesIO:
    buf = io.BytesIO()
    data = dockerfile.encode("utf-8")
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def _has_image(client: Any, name: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(name)
    except ImageNotFound:
        return False
    return True


#: The label holding what an image was built from (the Dockerfile and its CLI choices).
SOURCE_LABEL = "orchestra.worker.source"


def source_hash(args: dict[str, str]) -> str:
    """A hash of the Dockerfile and the build arguments that choose what goes in (not the CA
    certificates, which change nothing an agent sees)."""
    import hashlib

    chosen = {k: v for k, v in sorted(args.items()) if k != "EXTRA_CA_CERTS"}
    text = dockerfile_text() + json.dumps(chosen, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _is_current(client: Any, name: str, wanted: str) -> bool:
    """``name`` exists and was built from the same Dockerfile and choices."""
    from docker.errors import ImageNotFound

    try:
        labels = client.images.get(name).labels or {}
    except ImageNotFound:
        return False
    return bool(labels.get(SOURCE_LABEL) == wanted)


def build_worker_image(
    client: Any,
    *,
    tag: str = DEFAULT_TAG,
    args: dict[str, str],
    force: bool = False,
    echo: Callable[[str], None] = print,
) -> bool:
    """Build ``tag``; return False when it exists, built from this Dockerfile with the same
    choices (and ``force`` is off). An image from an older Dockerfile (one without Claude Code
    and Codex, say) is rebuilt."""
    wanted = source_hash(args)
    if not force and _is_current(client, tag, wanted):
        return False
    base = args["BASE_IMAGE"]
    if not _has_image(client, base):
        hint = (
            "build it with scripts/build-orchestrator-image.sh (Debian bookworm by debootstrap, "
            "no registry needed)"
            if base == DEFAULT_BASE
            else f"pull or build {base!r} first"
        )
        msg = f"the base image {base!r} is not in the Docker engine: {hint}, or pass --base IMAGE"
        raise RuntimeUnavailableError(msg)
    stream = client.api.build(
        fileobj=_context(dockerfile_text()),
        custom_context=True,
        tag=tag,
        buildargs=args,
        rm=True,
        decode=True,
        labels={"orchestra.image": "worker", SOURCE_LABEL: wanted},
    )
    for chunk in stream:
        if "error" in chunk:
            msg = f"building the worker image {tag!r} failed: {str(chunk['error']).strip()}"
            raise RuntimeUnavailableError(msg)
        text = str(chunk.get("stream", "")).rstrip()
        if text:
            echo(text)
    return True
