"""Ollama's ed25519-signed registry token request: needed to push to and read private models.

The flow mirrors ollama/ollama `server/auth.go` (`registryChallenge.URL`,
`getAuthorizationToken`) and `auth/auth.go` (`Sign`, `NewNonce`):

1. a registry answers 401 with `WWW-Authenticate: Bearer realm="…",service="…",scope="…"`;
2. the client builds the token URL: the realm's own query plus `service`, one `scope` per
   space-separated scope, `ts` (unix seconds) and `nonce` (16 random bytes, base64 raw-URL);
   Go's `url.Values.Encode` sorts the keys and query-escapes every value;
3. it signs `GET,<that url>,<base64(hex(sha256(empty body)))>` with the user's OpenSSH
   ed25519 key `~/.ollama/id_ed25519` and sends `Authorization: <pubkey>:<signature>` where
   `<pubkey>` is the base64 middle field of the authorized_keys line and `<signature>` is the
   standard base64 of the raw 64-byte ed25519 signature (`ssh.Signature.Blob`);
4. the JSON reply `{"token": …}` is then used as `Authorization: Bearer <token>`.

The realm's host must equal the registry's host (server/auth.go refuses cross-origin realms).
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, quote_plus, urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from publisher.errors import TargetUnavailable
from publisher.files import read_bytes
from publisher.http_limits import BodyLimit, fetch
from publisher.remote_text import remember_sent, server_text

DEFAULT_KEY_PATH = Path("~/.ollama/id_ed25519")
MAX_TOKEN_REPLY = 64 * 1024  # a token reply is a few hundred bytes; docker's JWTs a few KiB

# base64(hex(sha256(b""))): the body digest Ollama signs for its bodiless GET (server/auth.go).
EMPTY_BODY_DIGEST = base64.b64encode(hashlib.sha256(b"").hexdigest().encode()).decode()


@dataclass(frozen=True)
class Challenge:
    """A parsed `WWW-Authenticate: Bearer …` challenge."""

    realm: str
    service: str = ""
    scope: str = ""


def parse_challenge(header: str) -> Challenge | None:
    """Parse a Bearer challenge (quoted values may contain commas); None if it is not Bearer."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    values: dict[str, str] = {}
    i = 0
    while i < len(rest):
        eq = rest.find("=", i)
        if eq < 0:
            break
        key = rest[i:eq].strip().strip(",").strip().lower()
        j = eq + 1
        if j < len(rest) and rest[j] == '"':
            end = rest.find('"', j + 1)
            end = len(rest) if end < 0 else end
            values[key] = rest[j + 1 : end]
            i = end + 1
        else:
            end = rest.find(",", j)
            end = len(rest) if end < 0 else end
            values[key] = rest[j:end].strip()
            i = end
        while i < len(rest) and rest[i] in ", ":
            i += 1
    if "realm" not in values:
        return None
    return Challenge(values["realm"], values.get("service", ""), values.get("scope", ""))


def load_key(path: str | Path | None = None) -> Ed25519PrivateKey:
    """Load the OpenSSH ed25519 private key Ollama signs with (default ~/.ollama/id_ed25519)."""
    key_path = Path(path or DEFAULT_KEY_PATH).expanduser()
    try:
        data = read_bytes(key_path, "Ollama signing key")
    except OSError as exc:
        raise TargetUnavailable(
            f"{key_path}: cannot read the Ollama signing key ({exc.strerror}); expected the "
            "OpenSSH ed25519 key that `ollama serve` creates on first start"
        ) from exc
    try:
        key = serialization.load_ssh_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise TargetUnavailable(
            f"{key_path}: not an unencrypted OpenSSH private key ({exc})"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise TargetUnavailable(f"{key_path}: expected an ed25519 key, found {type(key).__name__}")
    return key


def public_key_b64(key: Ed25519PrivateKey) -> str:
    """The base64 field of the key's authorized_keys line (what auth.Sign puts before the colon)."""
    return authorized_key(key).split()[1]


def authorized_key(key: Ed25519PrivateKey) -> str:
    """The `ssh-ed25519 AAAA…` line users paste into ollama.com/settings/keys."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    """`<pubkey>:<base64 signature>` exactly as auth/auth.go `Sign` formats it."""
    signature = key.sign(data)  # an ssh ed25519 signature blob is the raw 64-byte signature
    return f"{public_key_b64(key)}:{base64.b64encode(signature).decode()}"


def encode_nonce(raw: bytes) -> str:
    """base64 raw-URL encoding (no padding), as auth.NewNonce encodes its random bytes."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_nonce() -> str:
    """A fresh nonce: 16 random bytes, like auth.NewNonce(rand.Reader, 16)."""
    return encode_nonce(os.urandom(16))


def _go_query_escape(value: str) -> str:
    # Go url.QueryEscape keeps only A-Z a-z 0-9 - _ . ~ and turns a space into '+',
    # which is exactly quote_plus with no extra safe characters.
    return quote_plus(value, safe="")


def token_url(challenge: Challenge, *, ts: int, nonce: str) -> str:
    """The realm URL with service, scopes, ts and nonce, encoded like Go's url.Values.Encode."""
    parts = urlsplit(challenge.realm)
    values: dict[str, list[str]] = {}
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        values.setdefault(k, []).append(v)
    values.setdefault("service", []).append(challenge.service)
    for scope in challenge.scope.split(" "):
        values.setdefault("scope", []).append(scope)
    values.setdefault("ts", []).append(str(ts))
    values.setdefault("nonce", []).append(nonce)
    query = "&".join(
        f"{_go_query_escape(k)}={_go_query_escape(v)}" for k in sorted(values) for v in values[k]
    )
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{query}"


def signed_payload(method: str, url: str) -> bytes:
    """The bytes Ollama signs for a bodiless token request: `<METHOD>,<url>,<body digest>`."""
    return f"{method},{url},{EMPTY_BODY_DIGEST}".encode()


def token_request(
    challenge: Challenge,
    key: Ed25519PrivateKey,
    *,
    ts: int | None = None,
    nonce: str | None = None,
) -> tuple[str, dict[str, str]]:
    """The URL and headers of the signed GET that exchanges our key for a Bearer token."""
    url = token_url(
        challenge, ts=int(time.time()) if ts is None else ts, nonce=nonce or new_nonce()
    )
    return url, {"Authorization": sign(key, signed_payload("GET", url))}


def verify(authorization: str, payload: bytes) -> bool:
    """Check a `<pubkey>:<signature>` header against payload (for test token servers)."""
    from cryptography.exceptions import InvalidSignature

    pub_b64, _, sig_b64 = authorization.partition(":")
    try:
        pub = serialization.load_ssh_public_key(f"ssh-ed25519 {pub_b64}".encode())
        pub.verify(base64.b64decode(sig_b64), payload)  # type: ignore[union-attr,call-arg]
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


class TokenAuth(Protocol):
    """Turns a Bearer challenge into a token (or raises TargetUnavailable)."""

    def token(self, client: httpx.Client, challenge: Challenge, registry_host: str) -> str:
        """Return a Bearer token for the challenge's scope."""
        ...


class AnonymousAuth:
    """The standard anonymous token request (`GET realm?service=&scope=`), for public repos."""

    def token(self, client: httpx.Client, challenge: Challenge, registry_host: str) -> str:
        """Ask the realm for an anonymous token."""
        params = [("service", challenge.service)] if challenge.service else []
        params += [("scope", s) for s in challenge.scope.split(" ") if s]
        return _token_from(client, client.build_request("GET", challenge.realm, params=params))


class OllamaKeyAuth:
    """Ollama's signed token request with the user's ~/.ollama/id_ed25519 (server/auth.go)."""

    def __init__(self, key_path: str | Path | None = None) -> None:
        self.key_path = key_path
        self._key: Ed25519PrivateKey | None = None

    def token(self, client: httpx.Client, challenge: Challenge, registry_host: str) -> str:
        """Sign the token request; refuse a realm on another host, as getAuthorizationToken does."""
        realm_host = urlsplit(challenge.realm).netloc
        if realm_host.lower() != registry_host.lower():
            raise TargetUnavailable(
                f"registry {registry_host}: token realm {challenge.realm!r} is on another host "
                f"({realm_host!r}); refusing to send a signed request there"
            )
        if self._key is None:
            self._key = load_key(self.key_path)
        url, headers = token_request(challenge, self._key)
        signed = headers["Authorization"]
        for sent in (signed, signed.rpartition(":")[2]):  # an echo of either is redacted
            remember_sent(sent)
        # the signature covers the exact URL string: send it verbatim, no re-encoding
        return _token_from(client, client.build_request("GET", httpx.URL(url), headers=headers))


class AnonymousThenKeyAuth:
    """Anonymous token first (public models, plain registries); Ollama's signed request when
    the realm refuses it and the signing key exists (a private model, an ollama.com-like host)."""

    def __init__(self, key_path: str | Path | None = None) -> None:
        self.key_path = Path(key_path) if key_path else DEFAULT_KEY_PATH
        self._anonymous = AnonymousAuth()
        self._key = OllamaKeyAuth(key_path)
        self._use_key = False

    def token(self, client: httpx.Client, challenge: Challenge, registry_host: str) -> str:
        """A Bearer token for the challenge."""
        if not self._use_key:
            try:
                return self._anonymous.token(client, challenge, registry_host)
            except TargetUnavailable:
                if not self.key_path.expanduser().exists():
                    raise
                self._use_key = True
        return self._key.token(client, challenge, registry_host)


def _token_from(client: httpx.Client, request: httpx.Request) -> str:
    """Ask the token service; its reply is read bounded and its words shown as server text."""
    realm = f"{request.url.scheme}://{request.url.netloc.decode()}{request.url.path}"
    try:
        resp = fetch(client, request, limit=MAX_TOKEN_REPLY)
    except BodyLimit as exc:
        raise TargetUnavailable(f"token reply from {realm}: {exc}") from None
    if resp.status_code >= 400:
        raise TargetUnavailable(
            f"token request to {realm} refused: HTTP {resp.status_code} {server_text(resp.text)}"
            " (for ollama.com: is the public key of ~/.ollama/id_ed25519.pub added to your "
            "account at https://ollama.com/settings/keys?)"
        )
    try:
        data = resp.json()
        token = str(data.get("token") or data["access_token"])
    except (ValueError, KeyError, AttributeError) as exc:
        raise TargetUnavailable(
            f"token reply from {realm} has no token: {server_text(str(exc))}"
        ) from None
    remember_sent(token)
    return token
