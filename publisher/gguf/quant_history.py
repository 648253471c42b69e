"""Where llama-quantize builds people still run write other types than the pinned llama.cpp.

Measured over the llama.cpp vendored in the `llama-cpp-python` sdists on PyPI (0.3.16 → 0.3.36;
the table is in docs/llama-quant-facts.md). Two differences matter; both are data here so the
prediction (`quant_layout`) stays one port of one llama.cpp with these two switches:

- `--tensor-type` overrides (`OverrideRule`): from #19770 (refactor of the type selection) until
  #22572 (merged 2026-05-01) a pattern whose type equals the ftype's default type was skipped
  (the ftype's mixture decided that tensor, or a later pattern with another type did). Every
  build that loads gemma4 (from #21309, 2026-04-02) until 2026-05-01 has that rule, e.g. the
  llama-cpp-python 0.3.20 and 0.3.21 sdists (llama.cpp f49e9178, f53577432 = b8942).
- Row fallback (`LEGACY_FALLBACK`): before `tensor_type_fallback` (last in the 0.3.16 sdist,
  llama.cpp 4227c9be), Q2_K and Q3_K rows that are not a multiple of 256 became IQ4_NL, now Q4_0.
  Only builds of that time can have written it, so it is accepted only for the architectures
  they could load (`LEGACY_FALLBACK_ARCHS`) — never gemma4.
"""

from __future__ import annotations

from enum import Enum

from publisher.gguf.ggml_constants import GGMLQuantizationType

T = GGMLQuantizationType


class OverrideRule(Enum):
    """How llama-quantize applies a `--tensor-type` pattern whose type is the ftype's default."""

    PATTERN_WINS = "pattern-wins"
    DEFAULT_SKIPPED = "default-skipped"

    @property
    def builds(self) -> str:
        """The llama.cpp builds that apply this rule, in words."""
        return _BUILDS[self]

    @property
    def rule(self) -> str:
        """The rule in words."""
        return _RULES[self]


_BUILDS = {
    OverrideRule.PATTERN_WINS: "llama.cpp since 2026-05-01 (#22572; llama-cpp-python ≥ 0.3.22)",
    OverrideRule.DEFAULT_SKIPPED: (
        "llama.cpp 2026-04-02 to 2026-05-01 (#19770 until #22572; llama-cpp-python 0.3.20–0.3.21)"
    ),
}
_RULES = {
    OverrideRule.PATTERN_WINS: "the first matching pattern decides the tensor",
    OverrideRule.DEFAULT_SKIPPED: (
        "a matching pattern whose type is the ftype's default is skipped "
        "(the next matching pattern or the ftype's mixture decides)"
    ),
}

# older llama.cpp (before tensor_type_fallback) sent Q2_K and Q3_K rows that do not fit to IQ4_NL
LEGACY_FALLBACK: dict[GGMLQuantizationType, GGMLQuantizationType] = {
    T.Q2_K: T.IQ4_NL,
    T.Q3_K: T.IQ4_NL,
}

# `general.architecture` names of llama.cpp's LLM_ARCH_NAMES (src/llama-arch.cpp) in the
# llama-cpp-python 0.3.17 sdist (llama.cpp 49bfddeca), the first sdist with tensor_type_fallback:
# no build older than the refactor can load an architecture missing here (the 0.3.16 sdist,
# before it, knows 88 of these 123). gemma4 came later (#21309, 2026-04-02).
LEGACY_FALLBACK_ARCHS = frozenset(
    {
    "afmoe", "apertus", "arcee", "arctic", "arwkv7", "baichuan", "bailingmoe", "bailingmoe2",
    "bert", "bitnet", "bloom", "chameleon", "chatglm", "clip", "codeshell", "cogvlm", "cohere2",
    "command-r", "dbrx", "deci", "deepseek", "deepseek2", "dots1", "dream", "ernie4_5",
    "ernie4_5-moe", "eurobert", "exaone", "exaone-moe", "exaone4", "falcon", "falcon-h1", "gemma",
    "gemma-embedding", "gemma2", "gemma3", "gemma3n", "glm-dsa", "glm4", "glm4moe", "gpt-oss",
    "gpt2", "gptj", "gptneox", "granite", "granitehybrid", "granitemoe", "grok", "grovemoe",
    "hunyuan-dense", "hunyuan-moe", "internlm2", "jais", "jais2", "jamba", "jina-bert-v2",
    "jina-bert-v3", "kimi-linear", "lfm2", "lfm2moe", "llada", "llada-moe", "llama",
    "llama-embed", "llama4", "maincoder", "mamba", "mamba2", "mimo2", "minicpm", "minicpm3",
    "minimax-m2", "mistral3", "mistral4", "modern-bert", "mpt", "nemotron", "nemotron_h",
    "nemotron_h_moe", "neo-bert", "nomic-bert", "nomic-bert-moe", "olmo", "olmo2", "olmoe",
    "openelm", "orion", "paddleocr", "pangu-embedded", "phi2", "phi3", "phimoe", "plamo",
    "plamo2", "plamo3", "plm", "qwen", "qwen2", "qwen2moe", "qwen2vl", "qwen3", "qwen35",
    "qwen35moe", "qwen3moe", "qwen3next", "qwen3vl", "qwen3vlmoe", "refact", "rnd1", "rwkv6",
    "rwkv6qwen2", "rwkv7", "seed_oss", "smallthinker", "smollm3", "stablelm", "starcoder",
    "starcoder2", "step35", "t5", "t5encoder", "wavtokenizer-dec", "xverse",
    }
)  # fmt: skip
