"""Release checks: good files pass; each broken file fails the right check for the right reason."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from gguf import GGMLQuantizationType as T
from support.gguf_factory import DEFAULT_CHAT_TEMPLATE, write_gemma4_gguf
from support.release_fixtures import fam_gguf, fam_manifest, huggingface_tags

from publisher.digest import DigestCache
from publisher.gguf.checks import (
    Expectations,
    TagReport,
    UnknownQuantTag,
    expected_quant,
    tag_files,
    verify_files,
    verify_release,
    verify_tag,
)
from publisher.manifest import load

TEMPLATE_SHA = hashlib.sha256(DEFAULT_CHAT_TEMPLATE.encode()).hexdigest()


def check(
    tmp_path: Path,
    tag: str = "Q4_K_M",
    *,
    expect_experts: int | None = 98,
    expect_eos: int | None = None,
    pin: str | None = None,
    **factory: Any,
) -> TagReport:
    path = write_gemma4_gguf(tmp_path / f"m-{tag}.gguf", **factory)
    return verify_tag(
        path,
        tag=tag,
        experts=expect_experts,
        eos_token_id=expect_eos,
        chat_template_sha256=pin,
        digest=False,
    )


def only_failure(report: TagReport) -> Any:
    assert [r.name for r in report.failures] != [], "expected a failure"
    assert len(report.failures) == 1, [str(r) for r in report.failures]
    return report.failures[0]


# ------------------------------------------------------------------------------------------
# good files


@pytest.mark.parametrize(
    ("tag", "factory"),
    [
        ("Q4_K_M", {}),
        ("Q4_K_S", {"file_type": 14}),
        ("Q6_K", {"file_type": 18}),
        ("Q8_0", {"file_type": 7}),
        ("F16", {"file_type": 1}),
        ("BF16", {"file_type": 32}),
        ("IQ4_XS", {"file_type": 30}),
        ("IQ3_M", {"file_type": 27}),
        ("Q6_K_L", {"file_type": 18, "token_embd_type": T.Q8_0}),
        ("Q5_K_L", {"file_type": 17, "token_embd_type": T.Q8_0, "output_type": T.Q8_0}),
        ("Q3_K_XL", {"file_type": 12, "token_embd_type": T.Q8_0}),
        ("CD-Q4_K_M", {"file_type": 15, "expert_type": T.Q5_K, "attn_type": T.Q4_K}),
        ("CD-IQ4_K_M", {"file_type": 17, "expert_type": T.Q5_K, "attn_type": T.IQ4_XS}),
        ("Q4_K_M", {"fused_gate_up": False}),
    ],
)
def test_good_files_pass(tmp_path: Path, tag: str, factory: dict[str, Any]) -> None:
    report = check(tmp_path, tag, pin=TEMPLATE_SHA, **factory)
    assert report.ok, [str(r) for r in report.failures]
    assert report.status == "ok"
    names = {r.name for r in report.results}
    assert {
        "format",
        "architecture",
        "expert_count",
        "expert_used_count",
        "expert_tensors",
    } <= names
    assert {"quant", "chat_template", "chat_template_sha256", "eos_token_id", "file_size"} <= names
    assert report.experts == 98 and report.size == report.files[0].stat().st_size


def test_substituted_rows_do_not_fail_the_quant(tmp_path: Path) -> None:
    # ffn_down_exps rows of 32 cannot be Q4_K: llama-quantize stores Q5_0 there (Q8_0 where
    # use_more_bits asks for Q6_K), and the prediction says so
    report = check(tmp_path, "Q4_K_M")
    measured = report.result("quant").measured
    assert report.ok
    assert measured["actual"] == measured["predicted"]
    assert {"Q4_K", "Q5_0", "Q8_0", "Q6_K"} <= set(measured["actual"])


# ------------------------------------------------------------------------------------------
# one failure per check


def test_wrong_architecture(tmp_path: Path) -> None:
    report = check(tmp_path, arch="gemma3")
    names = {r.name for r in report.failures}
    assert "architecture" in names
    assert report.result("architecture").found == "'gemma3'"


def test_metadata_expert_count_differs(tmp_path: Path) -> None:
    failure = only_failure(check(tmp_path, experts=128, tensor_experts=98))
    assert failure.name == "expert_count"
    assert "= 98" in failure.expected and "= 128" in failure.found


def test_metadata_says_98_but_a_tensor_holds_128(tmp_path: Path) -> None:
    report = check(tmp_path, tensor_experts={"blk.1.ffn_down_exps.weight": 128})
    failure = only_failure(report)
    assert failure.name == "expert_tensors"
    assert "blk.1.ffn_down_exps.weight has 128" in failure.found
    assert "blk.0" not in failure.found


def test_every_expert_tensor_kind_is_checked(tmp_path: Path) -> None:
    wrong = {
        "blk.0.ffn_gate_inp.weight": 128,
        "blk.0.ffn_gate_up_exps.weight": 128,
        "blk.1.ffn_down_exps.scale": 128,
    }
    failure = only_failure(check(tmp_path, tensor_experts=wrong))
    for name in wrong:
        assert f"{name} has 128" in failure.found


def test_split_gate_up_experts_are_checked(tmp_path: Path) -> None:
    report = check(tmp_path, fused_gate_up=False, tensor_experts={"blk.0.ffn_up_exps.weight": 97})
    assert "blk.0.ffn_up_exps.weight has 97" in only_failure(report).found


def test_moe_layer_missing_its_down_experts(tmp_path: Path) -> None:
    report = check(tmp_path, omit_tensors=["blk.1.ffn_down_exps.weight"])
    failure = only_failure(report)
    assert failure.name == "expert_tensors"
    assert "layer 1 lacks ffn_down_exps.weight" in failure.found


def test_expert_used_count_above_expert_count(tmp_path: Path) -> None:
    failure = only_failure(check(tmp_path, expert_used=99))
    assert failure.name == "expert_used_count" and "= 99" in failure.found


def test_ftype_not_the_tags(tmp_path: Path) -> None:
    failure = only_failure(check(tmp_path, "Q5_K_M", file_type=15))
    assert failure.name == "quant"
    assert "Q5_K_M (17)" in failure.expected and "Q4_K_M (15)" in failure.found


def test_ftype_right_but_tensors_are_another_quant(tmp_path: Path) -> None:
    failure = only_failure(check(tmp_path, "Q4_K_M", file_type=15, main_type=T.F16))
    assert failure.name == "quant"
    assert "blk.0.attn_k.weight is F16, expected Q4_K" in failure.found


def test_l_tag_without_q8_embeddings(tmp_path: Path) -> None:
    failure = only_failure(check(tmp_path, "Q6_K_L", file_type=18))
    assert failure.name == "quant"
    assert "token_embd.weight is Q6_K, expected Q8_0" in failure.found


def test_l_tag_with_an_output_tensor_not_in_q8(tmp_path: Path) -> None:
    report = check(tmp_path, "Q6_K_L", file_type=18, token_embd_type=T.Q8_0, output_type=T.Q6_K)
    assert "output.weight is Q6_K, expected Q8_0" in only_failure(report).found


def test_cd_tier_with_experts_below_attention_bits_passes(tmp_path: Path) -> None:
    # the owner's maps put the experts of most layers below attention: no bits-per-weight rule
    report = check(tmp_path, "CD-Q4_K_M", file_type=15, expert_type=T.Q3_K, attn_type=T.Q5_K)
    assert report.ok, [str(r) for r in report.failures]
    assert report.result("quant").measured["deviating_layers"] == [0, 1]


def test_cd_tier_laid_out_as_its_plain_twin_fails(tmp_path: Path) -> None:
    failure = only_failure(check(tmp_path, "CD-Q4_K_M", file_type=15))
    assert failure.name == "quant"
    assert "identical to plain Q4_K_M: the CD map was not applied" in failure.found


def test_cd_tier_differing_only_outside_the_experts_fails(tmp_path: Path) -> None:
    failure = only_failure(check(tmp_path, "CD-Q4_K_M", file_type=15, attn_type=T.Q5_K))
    assert "identical to plain Q4_K_M in every expert tensor" in failure.found
    assert "blk.0.attn_k.weight is Q5_K, expected Q4_K" in failure.found


@pytest.mark.parametrize("tag", ["qat-Q4_0", "CD-qat-Q4_K_M", "UD-Q4_K_M", "Q4_K_M_XXL"])
def test_unknown_tag_is_a_clear_failure_not_a_guess(tmp_path: Path, tag: str) -> None:
    failure = only_failure(check(tmp_path, tag))
    assert failure.name == "quant" and failure.found == tag and tag in failure.detail
    with pytest.raises(UnknownQuantTag):
        expected_quant(tag)


def test_missing_chat_template(tmp_path: Path) -> None:
    failure = only_failure(check(tmp_path, chat_template=None))
    assert failure.name == "chat_template" and failure.found == "absent"


def test_chat_template_differs_from_the_pin(tmp_path: Path) -> None:
    report = check(tmp_path, pin=TEMPLATE_SHA, chat_template=DEFAULT_CHAT_TEMPLATE + " ")
    failure = only_failure(report)
    assert failure.name == "chat_template_sha256"
    assert failure.expected == TEMPLATE_SHA and failure.found != TEMPLATE_SHA


def test_eos_is_the_wrong_token(tmp_path: Path) -> None:
    failure = only_failure(check(tmp_path, eos=1))
    assert failure.name == "eos_token_id"
    assert failure.expected == "106 (<turn|>)" and failure.found == "1 (<eos>)"


def test_eos_can_be_configured(tmp_path: Path) -> None:
    path = write_gemma4_gguf(tmp_path / "m.gguf", eos=1)
    report = verify_tag(path, tag="Q4_K_M", experts=98, eos_token_id=1, digest=False)
    assert report.ok


def test_truncated_file(tmp_path: Path) -> None:
    path = write_gemma4_gguf(tmp_path / "m.gguf")
    os.truncate(path, path.stat().st_size - 4096)
    report = verify_tag(path, tag="Q4_K_M", experts=98, digest=False)
    failure = only_failure(report)
    assert (
        failure.name == "file_size" and "needs" in failure.found and failure.detail == "truncated"
    )


def test_not_a_gguf(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"<html>not found</html>")
    report = verify_tag(path, tag="Q4_K_M", experts=98, digest=False)
    assert [r.name for r in report.results] == ["format"]
    assert "magic" in report.failures[0].found and report.status == "failed"


# ------------------------------------------------------------------------------------------
# split sets


def test_split_set_is_discovered_and_checked_whole(tmp_path: Path) -> None:
    first = write_gemma4_gguf(tmp_path / "m-Q4_K_M.gguf", split=3)
    files = tag_files(first)
    assert [p.name for p in files] == [f"m-Q4_K_M-0000{k}-of-00003.gguf" for k in (1, 2, 3)]
    assert tag_files(tmp_path / "m-Q4_K_M.gguf") == files  # declared name, stored split
    report = verify_tag(first, tag="Q4_K_M", experts=98, digest=False)
    assert report.ok, [str(r) for r in report.failures]
    assert report.result("split").ok and report.size == sum(p.stat().st_size for p in files)


def test_split_set_with_a_missing_shard(tmp_path: Path) -> None:
    first = write_gemma4_gguf(tmp_path / "m.gguf", split=3)
    (tmp_path / "m-00002-of-00003.gguf").unlink()
    report = verify_tag(first, tag="Q4_K_M", experts=98, digest=False)
    split = report.result("split")
    assert not split.ok and "missing shard(s) m-00002-of-00003.gguf" in split.found


def test_split_set_whose_names_disagree_with_split_count(tmp_path: Path) -> None:
    first = write_gemma4_gguf(tmp_path / "m.gguf", split=2)
    for k in (1, 2):
        (tmp_path / f"m-0000{k}-of-00002.gguf").rename(tmp_path / f"m-0000{k}-of-00003.gguf")
    write_gemma4_gguf(tmp_path / "x.gguf").rename(tmp_path / "m-00003-of-00003.gguf")
    report = verify_tag(tmp_path / "m-00001-of-00003.gguf", tag="Q4_K_M", digest=False)
    assert first.name == "m-00001-of-00002.gguf"
    found = report.result("split").found
    assert "split.count is 2" in found and "m-00003-of-00003.gguf has split.no None" in found


# ------------------------------------------------------------------------------------------
# digests


def test_identical_files_under_two_tags_fail_digest_uniqueness(tmp_path: Path) -> None:
    plain = write_gemma4_gguf(tmp_path / "m-Q4_K_M.gguf")
    twin = tmp_path / "m-CD-Q4_K_M.gguf"
    twin.write_bytes(plain.read_bytes())
    reports = verify_files(
        [("Q4_K_M", plain), ("CD-Q4_K_M", twin)],
        Expectations(experts=98),
        cache=DigestCache(tmp_path / "cache.json"),
        progress=False,
    )
    for report, other in zip(reports, ("CD-Q4_K_M", "Q4_K_M"), strict=True):
        unique = report.result("digest_unique")
        assert not unique.ok and unique.found == f"identical to {other}"
        assert report.sha256[report.files[0].name] == hashlib.sha256(plain.read_bytes()).hexdigest()


def test_a_selected_tag_is_unique_against_the_whole_release(tmp_path: Path) -> None:
    # `--tag CD-Q4_K_M` alone must still catch a CD tier byte-identical to its plain twin.
    manifest = tmp_path / "m.toml"
    kinds = {"CD-Q4_K_M": "contrib-dynamic"}
    manifest.write_text(fam_manifest(huggingface_tags("Q4_K_M", "CD-Q4_K_M", "Q8_0", kinds=kinds)))
    plain = fam_gguf(tmp_path / "gguf", "Q4_K_M")
    (tmp_path / "gguf" / "fam-v1-CD-Q4_K_M.gguf").write_bytes(plain.read_bytes())
    fam_gguf(tmp_path / "gguf", "Q8_0", file_type=7)
    cache = DigestCache(tmp_path / "cache.json")
    reports = verify_release(load(manifest), ["CD-Q4_K_M"], cache=cache, progress=False)
    assert [r.tag for r in reports] == ["CD-Q4_K_M"]  # only the selected tag is reported
    unique = reports[0].result("digest_unique")
    assert unique is not None and not unique.ok and unique.found == "identical to Q4_K_M"
    # the selected tag and its same-size twin were hashed once; Q8_0 (another size) never read
    assert cache.bytes_hashed == 2 * plain.stat().st_size
    again = DigestCache(tmp_path / "cache.json")
    reports = verify_release(load(manifest), ["CD-Q4_K_M"], cache=again, progress=False)
    assert reports[0].result("digest_unique").found == "identical to Q4_K_M"
    assert again.bytes_hashed == 0  # both served from the cache
    # a scratch copy of one tag needs no ladder-wide check
    alone = verify_release(
        load(manifest), ["CD-Q4_K_M"], cache=again, progress=False, unique_across_release=False
    )
    assert alone[0].result("digest_unique").ok


def test_an_unreadable_other_tag_is_named_not_fatal(tmp_path: Path) -> None:
    manifest = tmp_path / "m.toml"
    manifest.write_text(fam_manifest(huggingface_tags("Q4_K_M", "Q8_0")))
    fam_gguf(tmp_path / "gguf", "Q4_K_M")
    (tmp_path / "gguf" / "fam-v1-Q8_0.gguf").mkdir()  # there, but unreadable (even as root)
    reports = verify_release(
        load(manifest), ["Q4_K_M"], cache=DigestCache(tmp_path / "c.json"), progress=False
    )
    unique = reports[0].result("digest_unique")
    assert reports[0].ok and unique is not None and unique.found == "unique"
    assert unique.detail == "not compared with Q8_0 (unreadable)"


# ------------------------------------------------------------------------------------------
# a release from a manifest

MANIFEST = fam_manifest(
    '[checks]\nchat_template_sha256 = "%s"\n\n' + huggingface_tags("Q4_K_M", "Q6_K_L", "Q8_0"),
    experts_base=128,
)


def test_verify_release_uses_the_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "m.toml"
    manifest.write_text(MANIFEST % TEMPLATE_SHA)
    fam_gguf(tmp_path / "gguf", "Q4_K_M")
    fam_gguf(tmp_path / "gguf", "Q6_K_L", file_type=18, experts=128)
    cache = DigestCache(tmp_path / "cache.json")
    reports = verify_release(load(manifest), cache=cache, progress=False)
    by_tag = {r.tag: r for r in reports}
    assert by_tag["Q4_K_M"].ok and by_tag["Q4_K_M"].result("chat_template_sha256").ok
    assert by_tag["Q8_0"].status == "missing"
    assert by_tag["Q8_0"].failures[0].name == "file_present"
    failed = {r.name for r in by_tag["Q6_K_L"].failures}
    assert failed == {"expert_count", "expert_tensors", "quant"}
    only = verify_release(load(manifest), ["q4_k_m"], digest=False)
    assert [r.tag for r in only] == ["Q4_K_M"] and only[0].sha256 == {}


@pytest.mark.slow
def test_checks_on_mutated_headers_report_never_raise(tmp_path: Path) -> None:
    import random

    from publisher.gguf.checks import check_tag
    from publisher.gguf.header import read_header

    source = write_gemma4_gguf(tmp_path / "src.gguf", vocab=120, layers=1)
    data = source.read_bytes()
    end = read_header(source).header_size
    rng = random.Random(7)
    target = tmp_path / "m.gguf"
    statuses = set()
    for _ in range(400):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            mutated[rng.randrange(0, end)] = rng.randrange(256)
        target.write_bytes(mutated)
        report = check_tag("Q4_K_M", [target], Expectations(experts=98))
        statuses.add(report.status)
        assert all(isinstance(r.found, str) for r in report.results)
    assert statuses == {"ok", "failed"}


def _bos(report: TagReport) -> Any:
    return next(r for r in report.results if r.name == "bos_policy")


def test_bos_policy_passes_the_real_gemma4_tokenizer_keys(tmp_path: Path) -> None:
    assert _bos(check(tmp_path)).ok  # tokenizer.ggml.model = "gemma4", no pre: as real files
    pre_only = check(
        tmp_path,
        "Q8_0",
        file_type=7,
        tokenizer_model="llama",
        extra_kv={"tokenizer.ggml.pre": "gemma4", "tokenizer.ggml.add_bos_token": True},
    )
    assert _bos(pre_only).ok


def test_bos_policy_fails_a_double_or_missing_bos_naming_the_key(tmp_path: Path) -> None:
    double = _bos(check(tmp_path, tokenizer_model="llama"))
    assert not double.ok and "double <bos>" in double.detail
    assert "tokenizer.ggml.model = 'llama'" in str(double) and "tokenizer.ggml.pre" in str(double)
    none = _bos(
        check(
            tmp_path,
            "Q8_0",
            file_type=7,
            tokenizer_model="llama",
            extra_kv={"tokenizer.ggml.pre": "gemma4"},
        )
    )
    assert not none.ok and "no <bos>" in none.detail
