"""Addresses the user hands the tool — registry URLs, the Ollama host, the Hub endpoint — checked
once where they enter, and never shown or stored with credentials in them.

A URL like `http://user:pw@host` would be echoed in errors and recorded in the ledger, so it is
refused with a pointer to where credentials belong, and `redact` strips any userinfo from text
the tool prints or writes, as a last line of defence.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any
from urllib.parse import SplitResult, urlsplit

from publisher.errors import UsageError
from publisher.remote_text import redact_credentials

HF_ENDPOINT_ENV = "HF_ENDPOINT"
OLLAMA_HOST_ENV = "OLLAMA_HOST"


def redact(text: str) -> str:
    """`text` with every URL's userinfo replaced by `***` (`http://***@host`), and every
    credential the tool sent or anything shaped like one (publisher.remote_text)."""
    return redact_credentials(text)


def redact_data(value: Any) -> Any:
    """A JSON-like value with `redact` applied to every string in it (keys included)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_data(item) for item in value]
    return value


def _split(url: str, default_scheme: str) -> SplitResult:
    """urlsplit with the port checked (urlsplit defers a bad port or IPv6 literal to here)."""
    parts = urlsplit(url if "://" in url else f"{default_scheme}://{url}")
    _ = parts.port  # raises ValueError for a port out of range or not a number
    return parts


def _credentials_hint(parts: SplitResult, where: str) -> str | None:
    """The refusal for a URL carrying `user[:password]@`, saying where credentials belong."""
    if parts.username is None and parts.password is None:
        return None
    return (
        "credentials do not belong in a URL (it is printed and recorded): "
        f"remove 'user:password@' and {where}"
    )


def check_url(
    url: str,
    *,
    expected: str,
    credentials_go: str,
    default_scheme: str = "https",
    path_allowed: bool = False,
) -> str:
    """Raise ValueError unless `url` is http(s)://host[:port] without credentials; return it.

    The message never repeats a password: the value is shown redacted.
    """
    shown = redact(url)
    if "\0" in url or any(c.isspace() for c in url):
        raise ValueError(f"expected {expected}, found {shown!r} (spaces or a NUL byte)")
    try:
        parts = _split(url, default_scheme)
    except ValueError as exc:
        raise ValueError(f"expected {expected}, found {shown!r} ({exc})") from None
    refusal = _credentials_hint(parts, credentials_go)
    if refusal:
        raise ValueError(f"{refusal}; found {shown!r}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected {expected}, found {shown!r}")
    if not path_allowed and parts.path.strip("/"):
        raise ValueError(f"expected {expected} (no path), found {shown!r}")
    return url


REGISTRY_CREDENTIALS = (
    "let the tool sign: ollama.com pushes are signed with your key in ~/.ollama/id_ed25519; "
    "another registry is reached anonymously"
)
HUB_CREDENTIALS = "put the Hub token in HF_TOKEN or huggingface_hub's store (`hf auth login`)"
OLLAMA_CREDENTIALS = "put a proxy's credentials in your proxy settings, not in the host"


def check_registry_url(url: str) -> None:
    """Raise ValueError unless `url` is an http(s) registry address (a host, maybe a port)."""
    check_url(
        url,
        expected="https://host[:port] (or http:// for a local one)",
        credentials_go=REGISTRY_CREDENTIALS,
    )


def check_hub_url(url: str) -> str:
    """Raise ValueError unless `url` is an http(s) Hub endpoint without credentials."""
    return check_url(
        url, expected="http(s)://host[:port]", credentials_go=HUB_CREDENTIALS, path_allowed=True
    )


def check_hub_endpoint(url: str, source: str = HF_ENDPOINT_ENV) -> str:
    """The Hub endpoint if usable, else a usage error naming where it came from."""
    try:
        return check_hub_url(url)
    except ValueError as exc:
        raise UsageError(f"{source}: {exc}") from None


def ollama_host(value: str | None, source: str) -> str:
    """`--host` / `OLLAMA_HOST` checked as Ollama reads it (`[http[s]://]host[:port]`)."""
    text = (value or "").strip()
    try:
        return check_url(
            text,
            expected="[http[s]://]host[:port] with a port 0-65535",
            credentials_go=OLLAMA_CREDENTIALS,
            default_scheme="http",
            path_allowed=True,
        )
    except ValueError as exc:
        raise UsageError(f"{source}: {exc}") from None


def daemon_host(option: str | None, default: str) -> str:
    """The Ollama daemon to talk to: `--host`, else `OLLAMA_HOST`, else `default`, checked."""
    if option:
        return ollama_host(option, "--host")
    environment = os.environ.get(OLLAMA_HOST_ENV)
    if environment:
        return ollama_host(environment, OLLAMA_HOST_ENV)
    return default


def import_ollama() -> ModuleType:
    """ollama, imported only after OLLAMA_HOST is checked: the package builds a default client
    from it at import and dies on a bad one (a port out of range, a broken IPv6 literal)."""
    environment = os.environ.get(OLLAMA_HOST_ENV)
    if environment:
        ollama_host(environment, OLLAMA_HOST_ENV)
    import ollama

    return ollama


def import_hub() -> ModuleType:
    """huggingface_hub, imported only when needed: it parses HF_ENDPOINT at import and dies on a
    bad one, so the endpoint is checked first and reported as a usage error."""
    endpoint = os.environ.get(HF_ENDPOINT_ENV)
    if endpoint:
        check_hub_endpoint(endpoint)
    import huggingface_hub

    return huggingface_hub
