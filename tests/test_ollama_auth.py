"""Our token-request signing equals what Ollama's Go code (server/auth.go, auth/auth.go) makes."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.go_program import needs_go, run_go

from publisher.errors import TargetUnavailable
from publisher.ollama import auth as ollama_auth

SEED = bytes(range(32))
NONCE_RAW = bytes(250 - i for i in range(16))
REALM = "https://registry.ollama.ai/v2/token?extra=a b"
SERVICE = "registry.ollama.ai"
SCOPE = "repository:mannix/gemma4-98e:pull,push repository:library/x:pull"
TS = 1700000000

# Produced by GO_VECTOR below (Go 1.19 stdlib, the same calls server/auth.go and auth/auth.go
# make: url.Values.Encode, sha256.Sum256(nil), ed25519 signing, ssh wire-format public key).
GO_NONCE = "-vn49_b19PPy8fDv7u3s6w"
GO_URL = (
    "https://registry.ollama.ai/v2/token?extra=a+b&nonce=-vn49_b19PPy8fDv7u3s6w"
    "&scope=repository%3Amannix%2Fgemma4-98e%3Apull%2Cpush&scope=repository%3Alibrary%2Fx%3Apull"
    "&service=registry.ollama.ai&ts=1700000000"
)
GO_EMPTY_DIGEST = (
    "ZTNiMGM0NDI5OGZjMWMxNDlhZmJmNGM4OTk2ZmI5MjQyN2FlNDFlNDY0OWI5MzRjYTQ5NTk5MWI3ODUyYjg1NQ=="
)
GO_AUTH = (
    "AAAAC3NzaC1lZDI1NTE5AAAAIAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4:"
    "GuIa9fKtgxjCrVwFZ04rvJqxxeBy8cO6KIiFwI4bm9vv5paQ65Zq1Op2/aQMPbjKWMEkj0lagfX7adL1GBTYDg=="
)

GO_VECTOR = r"""
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

func main() {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	var wire []byte
	for _, s := range [][]byte{[]byte("ssh-ed25519"), pub} {
		l := make([]byte, 4)
		binary.BigEndian.PutUint32(l, uint32(len(s)))
		wire = append(wire, l...)
		wire = append(wire, s...)
	}
	raw := make([]byte, 16)
	for i := range raw {
		raw[i] = byte(250 - i)
	}
	nonce := base64.RawURLEncoding.EncodeToString(raw)
	u, _ := url.Parse("https://registry.ollama.ai/v2/token?extra=a b")
	values := u.Query()
	values.Add("service", "registry.ollama.ai")
	scope := "repository:mannix/gemma4-98e:pull,push repository:library/x:pull"
	for _, s := range strings.Split(scope, " ") {
		values.Add("scope", s)
	}
	values.Add("ts", strconv.FormatInt(1700000000, 10))
	values.Add("nonce", nonce)
	u.RawQuery = values.Encode()
	sum := sha256.Sum256(nil)
	body := base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(sum[:])))
	data := fmt.Sprintf("%s,%s,%s", "GET", u.String(), body)
	sig := ed25519.Sign(priv, []byte(data))
	fmt.Println(nonce)
	fmt.Println(u.String())
	fmt.Println(data)
	fmt.Printf("%s:%s\n", base64.StdEncoding.EncodeToString(wire),
		base64.StdEncoding.EncodeToString(sig))
}
"""


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """The SEED key written as an OpenSSH private key file, like ~/.ollama/id_ed25519."""
    key = Ed25519PrivateKey.from_private_bytes(SEED)
    path = tmp_path / "id_ed25519"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    return path


def _request(key_file: Path) -> tuple[str, dict[str, str]]:
    challenge = ollama_auth.Challenge(REALM, SERVICE, SCOPE)
    key = ollama_auth.load_key(key_file)
    return ollama_auth.token_request(
        challenge, key, ts=TS, nonce=ollama_auth.encode_nonce(NONCE_RAW)
    )


def test_empty_body_digest_is_base64_of_hex_sha256() -> None:
    assert hashlib.sha256(b"").hexdigest().startswith("e3b0c442")
    assert ollama_auth.EMPTY_BODY_DIGEST == GO_EMPTY_DIGEST
    assert base64.b64decode(GO_EMPTY_DIGEST).decode() == hashlib.sha256(b"").hexdigest()


def test_signed_request_equals_go_vector(key_file: Path) -> None:
    url, headers = _request(key_file)
    assert ollama_auth.encode_nonce(NONCE_RAW) == GO_NONCE
    assert url == GO_URL
    assert ollama_auth.signed_payload("GET", url) == f"GET,{GO_URL},{GO_EMPTY_DIGEST}".encode()
    assert headers == {"Authorization": GO_AUTH}
    assert ollama_auth.verify(headers["Authorization"], ollama_auth.signed_payload("GET", url))
    assert not ollama_auth.verify(headers["Authorization"], b"GET,other,x")


@needs_go
@pytest.mark.slow
def test_go_program_still_produces_the_vector(tmp_path: Path, key_file: Path) -> None:
    out = run_go(GO_VECTOR, tmp_path).splitlines()
    url, headers = _request(key_file)
    assert out == [GO_NONCE, url, f"GET,{url},{GO_EMPTY_DIGEST}", headers["Authorization"]]


def test_public_key_matches_ssh_keygen(key_file: Path) -> None:
    key = ollama_auth.load_key(key_file)
    if shutil.which("ssh-keygen"):
        key_file.chmod(0o600)
        line = subprocess.run(
            ["ssh-keygen", "-y", "-f", str(key_file)], capture_output=True, text=True, check=True
        ).stdout
        assert line.split()[1] == ollama_auth.public_key_b64(key)
    assert ollama_auth.authorized_key(key).startswith("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5")


def test_new_nonce_is_16_bytes_raw_url() -> None:
    nonce = ollama_auth.new_nonce()
    assert len(nonce) == 22 and "=" not in nonce and "+" not in nonce and "/" not in nonce
    assert nonce != ollama_auth.new_nonce()


def test_parse_challenge_keeps_commas_inside_quotes() -> None:
    header = (
        'Bearer realm="https://registry.ollama.ai/v2/token",service="registry.ollama.ai",'
        'scope="repository:mannix/gemma4-98e:pull,push"'
    )
    assert ollama_auth.parse_challenge(header) == ollama_auth.Challenge(
        "https://registry.ollama.ai/v2/token",
        "registry.ollama.ai",
        "repository:mannix/gemma4-98e:pull,push",
    )
    assert ollama_auth.parse_challenge('Basic realm="x"') is None


def test_missing_or_wrong_key_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TargetUnavailable, match="cannot read the Ollama signing key"):
        ollama_auth.load_key(tmp_path / "nope")
    bad = tmp_path / "bad"
    bad.write_text("not a key")
    with pytest.raises(TargetUnavailable, match="not an unencrypted OpenSSH private key"):
        ollama_auth.load_key(bad)
