"""Ollama-format image artifacts (config blob, layers, manifest) built from a GGUF and the manifest.

Byte-for-byte what `ollama create` + `ollama push` write, so digests we expect equal digests the
registry reports. Sources followed (ollama/ollama):

- server/create.go `createModel`: layer order = model, template (`setTemplate`), system
  (`setSystem`), one license layer per text (`setLicense`), params (`setParameters`); template,
  system and license blobs are the raw UTF-8 text (`strings.NewReader`), params is
  `json.NewEncoder(&b).Encode(map[string]any)`; the config blob is
  `json.NewEncoder(&b).Encode(model.ConfigV2)` (`createConfigLayer`), with `OS: "linux",
  Architecture: "amd64"` set in `CreateHandler`.
- types/model/config.go `ConfigV2`: config field order and `omitempty`s.
- manifest/manifest.go `Manifest` + manifest/layer.go `Layer`: manifest field order; server/
  images.go `PushModel` sends `json.Marshal(mf)` with Content-Type
  `application/vnd.docker.distribution.manifest.v2+json`.
- Go's encoding/json: map keys sorted, compact separators, `<`, `>`, `&`, U+2028, U+2029
  escaped as \\u003c… (HTML-safe default), numbers that arrived as JSON are float64 and print
  in the shortest form ('f' notation, 'e' below 1e-6 or from 1e21), `Encoder.Encode` appends
  "\\n" while `Marshal` does not.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

from publisher.errors import UsageError

MEDIA_MODEL = "application/vnd.ollama.image.model"
MEDIA_TEMPLATE = "application/vnd.ollama.image.template"
MEDIA_SYSTEM = "application/vnd.ollama.image.system"
MEDIA_LICENSE = "application/vnd.ollama.image.license"
MEDIA_PARAMS = "application/vnd.ollama.image.params"
MEDIA_CONFIG = "application/vnd.docker.container.image.v1+json"  # createConfigLayer
MEDIA_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"  # WriteManifest

_SHA256 = re.compile(r"^(sha256:)?[0-9a-f]{64}$")


@dataclass(frozen=True)
class Layer:
    """One blob of an image: its descriptor plus where its bytes come from (a file or bytes)."""

    media_type: str
    digest: str
    size: int
    source: Path | bytes = field(repr=False)

    def descriptor(self) -> dict[str, object]:
        """The manifest entry, field order of manifest/layer.go `Layer` (from/name omitted)."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}

    @classmethod
    def from_bytes(cls, media_type: str, data: bytes) -> Layer:
        """A layer whose bytes we hold (config, template, params…): digest = sha256 of them."""
        return cls(media_type, "sha256:" + hashlib.sha256(data).hexdigest(), len(data), data)


@dataclass(frozen=True)
class ImageInputs:
    """Everything one Ollama tag is made of (the model layer is the GGUF, unchanged)."""

    gguf_path: Path
    gguf_sha256: str  # hex or "sha256:<hex>"
    gguf_size: int
    model_family: str  # GGUF general.architecture, e.g. "gemma4"
    model_type: str  # parameter size label, e.g. "20.8B" (see ollama_model_type)
    file_type: str  # quantization name, e.g. "Q4_K_M" (see ollama_file_type)
    template: str | None = None
    params: Mapping[str, object] | None = None
    license: str | Sequence[str] | None = None
    system: str | None = None
    renderer: str | None = None
    parser: str | None = None
    requires: str | None = None


@dataclass(frozen=True)
class OllamaImage:
    """A buildable/pushable Ollama image: config blob, ordered layers and the manifest bytes."""

    config: Layer
    layers: tuple[Layer, ...]
    manifest_bytes: bytes
    manifest_digest: str

    @property
    def config_bytes(self) -> bytes:
        """The config blob (JSON)."""
        assert isinstance(self.config.source, bytes)
        return self.config.source

    def layer(self, media_type: str) -> Layer | None:
        """The first layer of a media type, if any."""
        return next((x for x in self.layers if x.media_type == media_type), None)


# ---- Go encoding/json ------------------------------------------------------------------------

_HTML_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _go_string(s: str) -> str:
    # json.dumps escapes '"', '\\' and control characters as Go does (\b \f \n \r \t short,
    # others \u00xx); Go additionally escapes <, >, & and U+2028/2029 (encodeState.string)
    out = json.dumps(s, ensure_ascii=False)
    return re.sub("[<>&\u2028\u2029]", lambda m: _HTML_ESCAPES[m[0]], out)


def _go_float(value: float) -> str:
    # encoding/json floatEncoder for float64: strconv 'f' with shortest digits, or 'e' when
    # abs < 1e-6 or abs >= 1e21, where "e-07" is cleaned to "e-7"
    if not math.isfinite(value):
        raise UsageError(f"parameter value {value!r}: JSON has no NaN or infinity")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    shortest = repr(value)
    if abs(value) < 1e-6 or abs(value) >= 1e21:
        return re.sub(r"e-0(\d)$", r"e-\1", shortest)
    return format(Decimal(shortest).normalize(), "f")


def go_json(value: object) -> str:
    """Encode like Go's json.Marshal of decoded JSON (any numbers become float64, maps sorted)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _go_float(float(value))
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, Mapping):
        items = sorted((str(k), v) for k, v in value.items())
        return "{" + ",".join(f"{_go_string(k)}:{go_json(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(go_json(v) for v in value) + "]"
    raise UsageError(f"cannot encode {type(value).__name__} {value!r} as an Ollama parameter")


def params_bytes(params: Mapping[str, object]) -> bytes:
    """The params blob: server/create.go setParameters `json.NewEncoder(&b).Encode(p)` (+"\\n").

    `p` is the create request's map[string]any decoded by gin, so ints and floats are float64
    (256000 stays "256000", 1.0 becomes "1"), keys come out sorted, and `stop` is an array.
    """
    return (go_json(dict(params)) + "\n").encode()


def config_bytes(inputs: ImageInputs) -> bytes:
    """The config blob: createConfigLayer's Encoder.Encode(model.ConfigV2), field order kept."""
    parts = [
        ("model_format", _go_string("gguf")),  # config.ModelFormat = GGML.Name() ("gguf")
        ("model_family", _go_string(inputs.model_family)),  # KV().Architecture()
        ("model_families", go_json([inputs.model_family])),  # append(…, Architecture())
        ("model_type", _go_string(inputs.model_type)),  # HumanNumber(ParameterCount())
        ("file_type", _go_string(inputs.file_type)),  # KV().FileType().String()
    ]
    for key in ("renderer", "parser", "requires"):  # `json:",omitempty"`
        value = getattr(inputs, key)
        if value:
            parts.append((key, _go_string(value)))
    parts += [("architecture", _go_string("amd64")), ("os", _go_string("linux"))]
    return ("{" + ",".join(f'"{k}":{v}' for k, v in parts) + "}\n").encode()


def manifest_bytes(config: Layer, layers: Sequence[Layer]) -> bytes:
    """The manifest as PushModel sends it: json.Marshal(Manifest) (no trailing newline)."""

    def desc(layer: Layer) -> str:
        return (
            f'{{"mediaType":{_go_string(layer.media_type)},"digest":{_go_string(layer.digest)},'
            f'"size":{layer.size}}}'
        )

    return (
        f'{{"schemaVersion":2,"mediaType":"{MEDIA_MANIFEST}","config":{desc(config)},'
        f'"layers":[{",".join(desc(x) for x in layers)}]}}'
    ).encode()


# ---- building ----------------------------------------------------------------------------------


def human_number(n: int) -> str:
    """Ollama's format.HumanNumber (the `model_type` label the daemon derives from a GGUF)."""
    if n >= 1_000_000_000:
        x = n / 1e9
        return f"{x:.0f}B" if x == math.floor(x) else f"{x:.1f}B"
    if n >= 1_000_000:
        x = n / 1e6
        return f"{x:.0f}M" if x == math.floor(x) else f"{x:.2f}M"
    if n >= 1_000:
        return f"{n / 1e3:.0f}K"
    return str(n)


# fs/ggml/type.go: the `FileType` iota (llama_ftype) and `FileType.String()`; 4-6 and 33-35
# (removed or unused by GGML) have no name and print "unknown", as does any value past the table.
_FILE_TYPES = [
    "F32",
    "F16",
    "Q4_0",
    "Q4_1",
    "-",
    "-",
    "-",
    "Q8_0",
    "Q5_0",
    "Q5_1",
    "Q2_K",
    "Q3_K_S",
    "Q3_K_M",
    "Q3_K_L",
    "Q4_K_S",
    "Q4_K_M",
    "Q5_K_S",
    "Q5_K_M",
    "Q6_K",
    "IQ2_XXS",
    "IQ2_XS",
    "Q2_K_S",
    "IQ3_XS",
    "IQ3_XXS",
    "IQ1_S",
    "IQ4_NL",
    "IQ3_S",
    "IQ3_M",
    "IQ2_S",
    "IQ2_M",
    "IQ4_XS",
    "IQ1_M",
    "BF16",
    "-",
    "-",
    "-",
    "TQ1_0",
    "TQ2_0",
    "MXFP4_MOE",
    "NVFP4",
    "Q1_0",
]


def ollama_file_type(value: object) -> str:
    """The config's `file_type` as `ollama create` names it: `KV().FileType().String()`, where
    FileType() takes general.file_type only when it is > 0 — so F32 (0), a missing key or a
    non-integer print "unknown", like any value Ollama has no name for (fs/ggml/ggml.go)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return "unknown"
    name = _FILE_TYPES[value] if value < len(_FILE_TYPES) else "-"
    return "unknown" if name == "-" else name


def ollama_model_type(element_counts: Sequence[int]) -> str:
    """The config's `model_type`: HumanNumber of the sum of every tensor's element count (the
    GGUF decoder overwrites general.parameter_count with that sum: fs/ggml/gguf.go)."""
    return human_number(sum(element_counts))


def with_daemon_defaults(inputs: ImageInputs) -> ImageInputs:
    """What `ollama create` adds by itself: for gemma4 with renderer or parser unset, it sets
    renderer "gemma4", parser "gemma4" and, if no stop was given, stop ["<turn|>"]
    (server/create.go createModel, "Auto-detect renderer, parser, and stop tokens")."""
    if inputs.model_family != "gemma4" or (inputs.renderer and inputs.parser):
        return inputs
    params = dict(inputs.params or {})
    params.setdefault("stop", ["<turn|>"])
    return replace(
        inputs,
        renderer=inputs.renderer or "gemma4",
        parser=inputs.parser or "gemma4",
        params=params,
    )


def _licenses(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [v for v in value if v]


def build_image(inputs: ImageInputs) -> OllamaImage:
    """Build the image for one tag in createModel's layer order; nothing is read from the GGUF."""
    sha = inputs.gguf_sha256.removeprefix("sha256:")
    if not _SHA256.fullmatch(sha):
        raise UsageError(f"{inputs.gguf_path}: sha256 {inputs.gguf_sha256!r} is not 64 hex digits")
    layers = [Layer(MEDIA_MODEL, f"sha256:{sha}", inputs.gguf_size, Path(inputs.gguf_path))]
    if inputs.template:  # `if r.Template != ""`
        layers.append(Layer.from_bytes(MEDIA_TEMPLATE, inputs.template.encode()))
    if inputs.system:  # setSystem skips ""
        layers.append(Layer.from_bytes(MEDIA_SYSTEM, inputs.system.encode()))
    for text in _licenses(inputs.license):
        layers.append(Layer.from_bytes(MEDIA_LICENSE, text.encode()))
    if inputs.params:  # setParameters: no layer when the map is empty
        layers.append(Layer.from_bytes(MEDIA_PARAMS, params_bytes(inputs.params)))
    config = Layer.from_bytes(MEDIA_CONFIG, config_bytes(inputs))
    body = manifest_bytes(config, layers)
    return OllamaImage(config, tuple(layers), body, "sha256:" + hashlib.sha256(body).hexdigest())


def expected_layers(inputs: ImageInputs, *, daemon: bool = False) -> dict[str, list[str]]:
    """Media type → digests a correct push of these inputs carries (config under MEDIA_CONFIG).

    With daemon=True the inputs first get the defaults `ollama create` adds (see
    with_daemon_defaults); note that since Ollama v0.30 the daemon may also rewrite the GGUF
    on create (createModel → copyLayerWithLlamaQuantize), so its model digest can differ.
    """
    image = build_image(with_daemon_defaults(inputs) if daemon else inputs)
    out: dict[str, list[str]] = {MEDIA_CONFIG: [image.config.digest]}
    for layer in image.layers:
        out.setdefault(layer.media_type, []).append(layer.digest)
    return out


def index_layers(descriptors: object) -> dict[str, list[tuple[str, int]]]:
    """Manifest descriptors as media type → sorted (digest, size), so two manifests compare
    regardless of layer order and extra fields; anything not a list of objects counts as empty."""
    out: dict[str, list[tuple[str, int]]] = {}
    for d in descriptors if isinstance(descriptors, list) else []:
        if isinstance(d, dict):
            out.setdefault(str(d.get("mediaType")), []).append(
                (str(d.get("digest")), int(d.get("size") or 0))
            )
    return {k: sorted(v) for k, v in out.items()}


def manifest_differences(manifest: Mapping[str, object], expected: OllamaImage) -> list[str]:
    """Human-readable differences between a registry manifest and the image we meant to push.

    Compares config and layers by media type, digest and size; ignores `from`/`name` fields
    and layer order within equal media types, so a daemon-made manifest compares fairly.
    """
    got = index_layers(manifest.get("layers"))
    got[MEDIA_CONFIG] = index_layers([manifest.get("config")]).get(MEDIA_CONFIG, [])
    want = index_layers([x.descriptor() for x in expected.layers])
    want[MEDIA_CONFIG] = [(expected.config.digest, expected.config.size)]
    problems = []
    for media in sorted(set(got) | set(want)):
        short = media.rsplit(".", 1)[-1].removesuffix("+json")
        if got.get(media, []) != want.get(media, []):
            problems.append(
                f"{short}: registry has {_fmt(got.get(media))}, expected {_fmt(want.get(media))}"
            )
    return problems


def _fmt(entries: list[tuple[str, int]] | None) -> str:
    if not entries:
        return "nothing"
    return ", ".join(f"{d[:19]}… ({s} bytes)" for d, s in entries)
