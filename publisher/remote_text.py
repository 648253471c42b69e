"""What a remote says, made safe to print and store: no credential, no control character, one
bounded line (issue 21 item 6).

A registry, a token service or the Hub may echo a request back — headers included — and may
put escape codes or newlines in an error body. Every place a server's words reach the console,
`--json`, the ledger or a run log passes them through `server_text`; the sinks themselves
(`urls.redact`, used by the console, the ledger and the run log) apply `redact_credentials`
again, as a last line of defence.

The credentials the tool sends are remembered here as they are sent (`remember_sent`: Bearer
tokens, Ollama's signed `Authorization`, HF_TOKEN), so an echo is redacted by value, not only
by shape. No module here imports anything heavy: the console uses it at start-up.
"""

from __future__ import annotations

import re
import threading
import unicodedata

MAX_LINE = 300  # characters of server text kept in one message
MIN_SECRET = 8  # shorter values are not remembered: redacting them would mangle ordinary text

_sent: set[str] = set()
_sent_lock = threading.Lock()

# scheme://userinfo@ — userinfo is everything up to the last '@' before the host's end
_USERINFO_RE = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#@]*@")
# credential shapes, redacted whoever sent them
_SHAPES = (
    # `Authorization: Bearer x`, `"authorization": "x"`, `Proxy-Authorization=x`
    (
        re.compile(
            r"(?i)((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
            r"(?:(?:bearer|basic|token)\s+)?)[^\s\"',;}]+"
        ),
        r"\1***",
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{16,}"), r"\1 ***"),
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}"), "hf_***"),
    # Ollama's signed request: `<ssh-ed25519 public key, base64>:<signature, base64>`
    (re.compile(r"AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/=]*:[A-Za-z0-9+/=]+"), "***"),
)
# terminal escape sequences: CSI (`ESC [ … final`), OSC (`ESC ] … BEL|ST`), other `ESC x`
_ESCAPES_RE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-Z\\-_]?|\x9b[0-?]*[ -/]*[@-~]"
)
_SPACES_RE = re.compile(r"\s+")


def remember_sent(value: str | None) -> None:
    """Remember a credential the tool is about to send, so any echo of it is redacted."""
    if value and len(value) >= MIN_SECRET:
        with _sent_lock:
            _sent.add(value)
            scheme, _, rest = value.partition(" ")  # `Bearer x`: x alone is the secret too
            if rest and scheme.lower() in ("bearer", "basic") and len(rest) >= MIN_SECRET:
                _sent.add(rest)


def redact_credentials(text: str) -> str:
    """`text` without the credentials the tool sent, credential-shaped strings or URL userinfo."""
    with _sent_lock:
        sent = sorted(_sent, key=len, reverse=True)
    for value in sent:
        if value in text:
            text = text.replace(value, "***")
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return _USERINFO_RE.sub(r"\g<scheme>***@", text)


def one_line(text: str) -> str:
    """`text` with escape sequences removed and every control or separator character (CR, LF,
    TAB, C1, Unicode line/paragraph separators, bidi overrides) made a space, spaces collapsed."""
    text = _ESCAPES_RE.sub("", text)
    text = "".join(
        " " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn") else c
        for c in text
    )
    return _SPACES_RE.sub(" ", text).strip()


def server_text(text: str | bytes | None, limit: int = MAX_LINE) -> str:
    """A server's words as one safe line of at most `limit` characters (`…` when cut)."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = text[: limit * 20]  # what is redacted and cleaned: enough for one line, bounded
    # redact before and after flattening: a secret may be split by a control character
    line = redact_credentials(one_line(redact_credentials(text)))
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
