"""Ollama image blobs are byte-identical to what Ollama's Go encoders write (digests must match)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from support.go_program import needs_go, run_go

from publisher.errors import UsageError
from publisher.ollama import image as oi

PARAMS = {
    "temperature": 0.6,
    "top_p": 0.95,
    "repeat_penalty": 1.15,
    "repeat_last_n": 256,
    "num_ctx": 256000,
    "stop": ["<turn|>", "<|tool_response>", "a&b", "x\u2028y", 'q"\\\n\t'],
    "use_mmap": True,
    "min_p": 1e-7,
    "seed": -1,
    "typical_p": 1.0,
}

# A Go program with the same JSON shapes as types/model/config.go ConfigV2 and manifest/*.go,
# encoding the way server/create.go (Encoder.Encode) and server/images.go (json.Marshal) do.
GO_ENCODER = r"""
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

type ConfigV2 struct {
	ModelFormat   string   `json:"model_format"`
	ModelFamily   string   `json:"model_family"`
	ModelFamilies []string `json:"model_families"`
	ModelType     string   `json:"model_type"`
	FileType      string   `json:"file_type"`
	Renderer      string   `json:"renderer,omitempty"`
	Parser        string   `json:"parser,omitempty"`
	Requires      string   `json:"requires,omitempty"`
	RemoteHost    string   `json:"remote_host,omitempty"`
	Capabilities  []string `json:"capabilities,omitempty"`
	Architecture  string   `json:"architecture"`
	OS            string   `json:"os"`
}

type Layer struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	From      string `json:"from,omitempty"`
}

type Manifest struct {
	SchemaVersion int     `json:"schemaVersion"`
	MediaType     string  `json:"mediaType"`
	Config        Layer   `json:"config"`
	Layers        []Layer `json:"layers"`
}

type Input struct {
	Params  map[string]any `json:"params"`
	Config  ConfigV2       `json:"config"`
	CfgL    Layer          `json:"config_layer"`
	Layers  []Layer        `json:"layers"`
}

func main() {
	var in Input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		panic(err)
	}
	var p, c bytes.Buffer
	json.NewEncoder(&p).Encode(in.Params)
	json.NewEncoder(&c).Encode(in.Config)
	m, _ := json.Marshal(Manifest{2, "application/vnd.docker.distribution.manifest.v2+json",
		in.CfgL, in.Layers})
	out, _ := json.Marshal(map[string]string{"params": p.String(), "config": c.String(),
		"manifest": string(m)})
	fmt.Println(string(out))
}
"""


@pytest.fixture
def inputs(tmp_path: Path) -> oi.ImageInputs:
    data = b"GGUF" + os.urandom(1000)
    path = tmp_path / "m-Q4_K_M.gguf"
    path.write_bytes(data)
    return oi.ImageInputs(
        gguf_path=path,
        gguf_sha256=hashlib.sha256(data).hexdigest(),
        gguf_size=len(data),
        model_family="gemma4",
        model_type="20.8B",
        file_type="Q4_K_M",
        template="{{- range .Messages }}<turn>{{ .Content }}{{ end }}\n",
        params=PARAMS,
        license=["Gemma terms", "Apache-2.0 notice"],
        system="You are helpful & brief.",
        renderer=None,
        parser="gemma4",
    )


@needs_go
@pytest.mark.slow
def test_blobs_equal_go_encoding(tmp_path: Path, inputs: oi.ImageInputs) -> None:
    image = oi.build_image(inputs)
    config = json.loads(image.config_bytes)
    payload = {
        # the daemon receives parameters as JSON (python json.dumps), exactly like this
        "params": json.loads(json.dumps(PARAMS)),
        "config": config,
        "config_layer": image.config.descriptor(),
        "layers": [x.descriptor() for x in image.layers],
    }
    go = json.loads(run_go(GO_ENCODER, tmp_path, stdin=json.dumps(payload)))
    params = image.layer(oi.MEDIA_PARAMS)
    assert params is not None and isinstance(params.source, bytes)
    assert params.source.decode() == go["params"]
    assert image.config_bytes.decode() == go["config"]
    assert image.manifest_bytes.decode() == go["manifest"]


def test_params_bytes_known_encoding() -> None:
    got = oi.params_bytes(
        {
            "temperature": 1.0,
            "stop": ["<turn|>"],
            "num_ctx": 256000,
            "top_p": 0.95,
            "min_p": 1e-5,
            "x": 1e21,
        }
    )
    assert got == (
        b'{"min_p":0.00001,"num_ctx":256000,"stop":["\\u003cturn|\\u003e"],'
        b'"temperature":1,"top_p":0.95,"x":1e+21}\n'
    )


def test_layer_order_media_types_and_digests(inputs: oi.ImageInputs) -> None:
    image = oi.build_image(inputs)
    assert [x.media_type for x in image.layers] == [
        oi.MEDIA_MODEL,
        oi.MEDIA_TEMPLATE,
        oi.MEDIA_SYSTEM,
        oi.MEDIA_LICENSE,
        oi.MEDIA_LICENSE,
        oi.MEDIA_PARAMS,
    ]
    model = image.layers[0]
    assert model.digest == "sha256:" + inputs.gguf_sha256 and model.size == inputs.gguf_size
    assert model.source == inputs.gguf_path
    template = image.layer(oi.MEDIA_TEMPLATE)
    assert template is not None
    assert template.digest == "sha256:" + hashlib.sha256(inputs.template.encode()).hexdigest()
    manifest = json.loads(image.manifest_bytes)
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == oi.MEDIA_MANIFEST
    assert manifest["config"]["mediaType"] == oi.MEDIA_CONFIG
    assert image.manifest_digest == "sha256:" + hashlib.sha256(image.manifest_bytes).hexdigest()
    config = json.loads(image.config_bytes)
    assert config == {
        "model_format": "gguf",
        "model_family": "gemma4",
        "model_families": ["gemma4"],
        "model_type": "20.8B",
        "file_type": "Q4_K_M",
        "parser": "gemma4",
        "architecture": "amd64",
        "os": "linux",
    }


def test_expected_layers_and_daemon_defaults(inputs: oi.ImageInputs) -> None:
    plain = oi.expected_layers(inputs)
    assert plain[oi.MEDIA_MODEL] == ["sha256:" + inputs.gguf_sha256]
    assert len(plain[oi.MEDIA_LICENSE]) == 2 and len(plain[oi.MEDIA_CONFIG]) == 1
    no_stop = oi.ImageInputs(**{**inputs.__dict__, "params": {"temperature": 0.6}})
    daemon = oi.with_daemon_defaults(no_stop)
    assert daemon.renderer == "gemma4" and daemon.params == {
        "temperature": 0.6,
        "stop": ["<turn|>"],
    }
    assert (
        oi.expected_layers(no_stop, daemon=True)[oi.MEDIA_PARAMS]
        != oi.expected_layers(no_stop)[oi.MEDIA_PARAMS]
    )


def test_manifest_differences(inputs: oi.ImageInputs) -> None:
    image = oi.build_image(inputs)
    manifest = json.loads(image.manifest_bytes)
    manifest["layers"][0]["from"] = "/some/path.gguf"  # daemon-made manifests may carry `from`
    assert oi.manifest_differences(manifest, image) == []
    manifest["layers"][-1]["digest"] = "sha256:" + "0" * 64
    problems = oi.manifest_differences(manifest, image)
    assert len(problems) == 1 and problems[0].startswith("params: registry has sha256:0000")


def test_index_layers_groups_and_sorts_by_media_type() -> None:
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    descriptors = [
        {"mediaType": oi.MEDIA_LICENSE, "digest": b, "size": 2, "from": "/x"},
        "not a descriptor",
        {"mediaType": oi.MEDIA_LICENSE, "digest": a, "size": 1},
        {"mediaType": oi.MEDIA_MODEL, "digest": a},
    ]
    assert oi.index_layers(descriptors) == {
        oi.MEDIA_LICENSE: [(a, 1), (b, 2)],
        oi.MEDIA_MODEL: [(a, 0)],
    }
    assert oi.index_layers(None) == {} and oi.index_layers({"layers": []}) == {}


def test_human_number_and_bad_sha(inputs: oi.ImageInputs) -> None:
    assert [oi.human_number(n) for n in (20_800_000_000, 7_000_000_000, 1_500_000, 999)] == [
        "20.8B",
        "7B",
        "1.50M",
        "999",
    ]
    with pytest.raises(UsageError, match="not 64 hex digits"):
        oi.build_image(oi.ImageInputs(**{**inputs.__dict__, "gguf_sha256": "abc"}))


def test_config_labels_as_ollama_create_derives_them() -> None:
    # fs/ggml/type.go FileType.String(); FileType() takes general.file_type only when > 0
    assert [oi.ollama_file_type(v) for v in (15, 18, 7, 1, 32, 38, 40)] == [
        "Q4_K_M",
        "Q6_K",
        "Q8_0",
        "F16",
        "BF16",
        "MXFP4_MOE",
        "Q1_0",
    ]
    for unnamed in (0, 4, 5, 6, 33, 34, 35, 41, 1024, None, "15", True, -1):
        assert oi.ollama_file_type(unnamed) == "unknown"
    # HumanNumber of the sum of every tensor's elements (general.parameter_count is ignored)
    assert oi.ollama_model_type([20_000_000_000, 812_345_678]) == "20.8B"
    assert oi.ollama_model_type([3_000_000, 500_000]) == "3.50M"
    assert oi.ollama_model_type([7_000_000_000]) == "7B"
    assert oi.ollama_model_type([1_234]) == "1K"
    assert oi.ollama_model_type([]) == "0"
