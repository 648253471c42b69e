"""One rule for every text the tool embeds or uploads: it is never a private key or a token.

Manifest paths are confined to the release's own tree (`publisher.manifest.confine`), but a
careless symlink or copy inside it can still hold `~/.ollama/id_ed25519` or an `hf_…` token; a
licence, template, tensor-type file, existing card or extra file that does is refused (exit 2)
before its text reaches a Modelfile, a card, a page, an error line or the Hub. The error names
the file and the kind of secret, never the secret itself.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from publisher.errors import UsageError

# PEM private keys of every kind (PKCS#1/#8, EC, DSA, ENCRYPTED, OPENSSH, PGP blocks)
_PEM = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
# the binary OpenSSH key format (what `-----BEGIN OPENSSH PRIVATE KEY-----` wraps, base64'd)
_OPENSSH = re.compile(rb"openssh-key-v1\x00|b3BlbnNzaC1rZXktdjE")
# Hugging Face user and organisation access tokens: `hf_` and 34 letters (30+ accepted)
_HF_TOKEN = re.compile(rb"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,}(?![A-Za-z0-9])")
_KINDS = ((_PEM, "a PEM private key"), (_OPENSSH, "an OpenSSH private key"),
          (_HF_TOKEN, "a Hugging Face access token"))  # fmt: skip

WHOLE_FILE_LIMIT = 4 << 20  # files up to this size are scanned whole
HEAD_LIMIT = 1 << 20  # of a larger file (an imatrix), its first MiB: a key file is never large


class SecretInText(UsageError):
    """A file the tool would embed or upload holds a private key or an access token."""


def secret_kind(data: bytes | str) -> str | None:
    """What kind of secret `data` holds ("a PEM private key", ...), or None."""
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    for pattern, kind in _KINDS:
        if pattern.search(raw):
            return kind
    return None


def refuse_secret(data: bytes | str, what: str) -> None:
    """Raise SecretInText naming `what` when `data` holds a private key or a token."""
    kind = secret_kind(data)
    if kind is not None:
        raise SecretInText(
            f"{what} holds {kind}; refusing to embed or upload it (point the manifest at the "
            "intended file)"
        )


def refuse_secret_file(path: str | os.PathLike[str], what: str) -> None:
    """The same rule for a file on disk, read through `publisher.files` (never a FIFO): whole
    up to WHOLE_FILE_LIMIT, else its first HEAD_LIMIT bytes. A missing file is left to the
    reader that needs it."""
    from publisher.files import open_regular

    try:
        with open_regular(path, what) as handle:
            size = os.fstat(handle.fileno()).st_size
            data = handle.read(size if size <= WHOLE_FILE_LIMIT else HEAD_LIMIT)
    except FileNotFoundError:
        return
    refuse_secret(data, f"{Path(path)}: {what}")
