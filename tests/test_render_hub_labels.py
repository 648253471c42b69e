"""The Hub's quant label of a file name (huggingface.js `parseGGUFQuantLabel`) and the hf.co tag
that reaches each file of a release: real ladders (bartowski, unsloth) and this release's."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from publisher.manifest import load
from publisher.render.facts import FileFacts, TagFacts
from publisher.render.hub_labels import (
    GGUF_FILE_QUANT_TYPES,
    GGUF_QUANT_FILENAME_ALIASES,
    hub_tag_warnings,
    hub_tags,
    quant_label,
)

ROOT = Path(__file__).resolve().parent.parent
V3_REPO = "ManniX-ITA/gemma-4-A4B-98e-v3-it-GGUF"

# bartowski/granite-embedding-107m-multilingual-GGUF, its README's files table (llama.cpp b4381).
BARTOWSKI = {
    "granite-embedding-107m-multilingual-f16.gguf": "F16",
    "granite-embedding-107m-multilingual-Q8_0.gguf": "Q8_0",
    "granite-embedding-107m-multilingual-Q6_K_L.gguf": "Q6_K_L",
    "granite-embedding-107m-multilingual-Q6_K.gguf": "Q6_K",
    "granite-embedding-107m-multilingual-Q5_K_L.gguf": None,  # no Q5_K in the Hub's list
    "granite-embedding-107m-multilingual-Q5_K_M.gguf": "Q5_K_M",
    "granite-embedding-107m-multilingual-Q5_K_S.gguf": "Q5_K_S",
    "granite-embedding-107m-multilingual-Q4_K_L.gguf": None,  # no Q4_K in the Hub's list
    "granite-embedding-107m-multilingual-Q4_K_M.gguf": "Q4_K_M",
    "granite-embedding-107m-multilingual-Q4_K_S.gguf": "Q4_K_S",
    "granite-embedding-107m-multilingual-Q4_0.gguf": "Q4_0",
    "granite-embedding-107m-multilingual-IQ4_NL.gguf": "IQ4_NL",
    "granite-embedding-107m-multilingual-IQ4_XS.gguf": "IQ4_XS",
    "granite-embedding-107m-multilingual-Q3_K_XL.gguf": "Q3_K_XL",
    "granite-embedding-107m-multilingual-Q3_K_L.gguf": "Q3_K_L",
    "granite-embedding-107m-multilingual-Q3_K_M.gguf": "Q3_K_M",
    "granite-embedding-107m-multilingual-IQ3_M.gguf": "IQ3_M",
}
# Other real names: bartowski's Llama 3.x and Qwen3.5 repos, unsloth's Qwen3 / Qwen3.5 repos.
OTHERS = {
    "Llama-3.2-3B-Instruct-Q4_K_L.gguf": None,
    "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf": "Q4_K_M",
    "Llama-3.2-1B-Instruct-Q6_K_L.gguf": "Q6_K_L",
    "Llama-3.2-3B-Instruct-IQ3_M.gguf": "IQ3_M",  # hub-docs ollama.md's own example
    "google_gemma-3n-E2B-it-Q4_K_M.gguf": "Q4_K_M",
    "Qwen_Qwen3.5-35B-A3B-Q2_K_L.gguf": "Q2_K_L",  # Q2_K is listed, so `_L` is kept
    "Qwen3-4B-UD-Q4_K_XL.gguf": "UD-Q4_K_XL",
    "Qwen3.5-35B-A3B-UD-Q2_K_XL.gguf": "UD-Q2_K_XL",
    "Qwen3.5-35B-A3B-UD-Q6_K_S.gguf": "UD-Q6_K_S",
    "BF16/Qwen3-30B-A3B-BF16-00001-of-00002.gguf": "BF16",
    "gpt-oss-20b-MXFP4.gguf": "MXFP4",  # the file-name alias
    "mmproj-F16.gguf": "F16",
    "Qwen3-4B-Q4_0.gguf": "Q4_0",
}


@pytest.mark.parametrize(("name", "label"), [*BARTOWSKI.items(), *OTHERS.items()])
def test_quant_label_of_real_file_names(name: str, label: str | None) -> None:
    assert quant_label(name) == label


def test_the_last_match_wins_and_case_does_not_matter() -> None:
    assert quant_label("model-Q8_0-then-q4_k_m.gguf") == "Q4_K_M"
    assert quant_label("gemma-4-A4B-98e-v3-it-CD-Q4_K_M.gguf") == "Q4_K_M"
    # the alternation is ordered: Q4_0 is tried before Q4_0_4_4, and `_4_4` is no size suffix
    assert quant_label("Llama-3.2-3B-Instruct-Q4_0_4_4.gguf") == "Q4_0"
    assert quant_label("gemma-4-A4B-98e-v3-it.gguf") is None


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_javascripts_regex_engine_reads_every_name_the_same_way() -> None:
    """The rule as gguf.ts writes it, run by node's own RegExp over the same names."""
    names = [*BARTOWSKI, *OTHERS, "x-Q4_0_4_4.gguf", "x-MXFP4_MOE.gguf", "a-Q8_0-b-q4_k_m.gguf"]
    script = """
const [quants, aliases, names] = JSON.parse(process.argv[1]);
const re = new RegExp("(?<prefix>UD-)?" + `(?<quant>${[...quants, ...aliases].join("|")})`
  + "(_(?<sizeVariation>[A-Z]+))?", "g");
console.log(JSON.stringify(names.map((n) => n.toUpperCase().match(re)?.at(-1) ?? null)));
"""
    payload = json.dumps([GGUF_FILE_QUANT_TYPES, GGUF_QUANT_FILENAME_ALIASES, names])
    out = subprocess.run(
        ["node", "-e", script, payload], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == [quant_label(n) for n in names]


def test_v3_every_file_has_an_hf_tag_that_reaches_it() -> None:
    release = load(ROOT / "manifests" / "v3.toml")
    entries = {e.tag: e for e in hub_tags(release)}
    assert len(entries) == 23
    collided = {"Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_L", "Q3_K_M"}
    for tag in collided:
        assert entries[tag].shared_with == (f"CD-{tag}",)
        assert entries[f"CD-{tag}"].label == tag
        for name in (tag, f"CD-{tag}"):
            assert entries[name].hf_tag == f"gemma-4-A4B-98e-v3-it-{name}.gguf"
    for tag in ("Q4_K_L", "Q5_K_L"):
        assert entries[tag].label is None
        assert entries[tag].hf_tag == f"gemma-4-A4B-98e-v3-it-{tag}.gguf"
    by_label = [e for e in entries.values() if e.label_resolves]
    assert len(by_label) == 11 and {e.hf_tag for e in by_label} == {e.tag for e in by_label}
    assert entries["Q6_K_L"].hf_tag == "Q6_K_L" and entries["F16"].hf_tag == "F16"
    warnings = hub_tag_warnings(entries.values(), V3_REPO)
    assert len(warnings) == 12
    assert any(
        w.startswith("tag CD-Q4_K_M: the Hub reads gemma-4-A4B-98e-v3-it-CD-Q4_K_M.gguf as Q4_K_M")
        for w in warnings
    )
    assert any(
        "tag Q5_K_L: the Hub reads no quant label from gemma-4-A4B-98e-v3-it-Q5_K_L.gguf" in w
        for w in warnings
    )


def test_measured_shard_names_replace_the_declared_name(tmp_path: Path) -> None:
    release = load(ROOT / "manifests" / "v3.toml")
    shards = (
        FileFacts("stem-IQ3_M-00002-of-00002.gguf"),
        FileFacts("stem-IQ3_M-00001-of-00002.gguf"),
    )
    entries = {e.tag: e for e in hub_tags(release, {"IQ3_M": TagFacts("ok", files=shards)})}
    assert entries["IQ3_M"].file == "stem-IQ3_M-00001-of-00002.gguf"
    assert entries["IQ3_M"].hf_tag == "IQ3_M"


def test_a_file_name_ollama_cannot_parse_as_a_tag_is_reported(tmp_path: Path) -> None:
    long_stem = "a" * 80
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        f"""
[model]
family = "f"
variant = "v"
title = "T"
base_model = "o/base"
experts = 8
[files]
name = "{long_stem}-{{tag}}.gguf"
[huggingface]
repo = "o/r-GGUF"
[[tags]]
tag = "Q4_K_L"
targets = ["huggingface"]
[[tags]]
tag = "Q4_K_M"
targets = ["huggingface"]
""",
        encoding="utf-8",
    )
    entries = {e.tag: e for e in hub_tags(load(manifest))}
    assert entries["Q4_K_M"].hf_tag == "Q4_K_M"
    assert entries["Q4_K_L"].hf_tag is None
    (warning,) = hub_tag_warnings(entries.values(), "o/r-GGUF")
    assert warning.endswith("is not a valid Ollama tag, so no hf.co tag reaches it")


def _ladder(tmp_path: Path, count: int) -> Path:
    """A manifest of `count` Hub tags whose files all read as Q4_K_M: the worst case for labels."""
    tags = "".join(
        f'[[tags]]\ntag = "t{i}-Q4_K_M"\ntargets = ["huggingface"]\n' for i in range(count)
    )
    manifest = tmp_path / "many.toml"
    manifest.write_text(
        '[model]\nfamily = "f"\nvariant = "v"\ntitle = "T"\nbase_model = "o/base"\nexperts = 8\n'
        '[files]\nname = "m-{tag}.gguf"\n[huggingface]\nrepo = "o/r-GGUF"\n' + tags,
        encoding="utf-8",
    )
    return manifest


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_label_matching_is_linear_in_the_number_of_tags(tmp_path: Path) -> None:
    """Issue 21 item 12: 50,000 tags took 112 s (every tag compared with every other, every
    warning naming all the others). Twice the tags must cost about twice, not four times."""
    import time

    release = load(_ladder(tmp_path, 6_000))
    half = release.model_copy(update={"tags": release.tags[:3_000]})

    def cost(of: object) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            hub_tag_warnings(hub_tags(of), "o/r-GGUF")  # type: ignore[arg-type]
            best = min(best, time.process_time() - started)
        return best

    small, large = cost(half), cost(release)
    assert large < 2.6 * small + 0.05, f"3,000 tags {small:.3f} s, 6,000 tags {large:.3f} s"
    entries = hub_tags(release)
    assert all(e.same_label is entries[0].same_label for e in entries)  # one group, shared
    warnings = hub_tag_warnings(entries, "o/r-GGUF")
    assert len(warnings) == 6_000 and max(map(len, warnings)) < 400
    assert (
        "like the file of t1-Q4_K_M, t2-Q4_K_M, t3-Q4_K_M, t4-Q4_K_M, t5-Q4_K_M and 5,994 more"
        in (warnings[0])
    )
    assert entries[7].shared_with[:2] == ("t0-Q4_K_M", "t1-Q4_K_M")
    assert len(entries[7].shared_with) == 5_999 and not entries[7].label_resolves
