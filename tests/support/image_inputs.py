"""The inputs of one Ollama image (`publisher.ollama.image.ImageInputs`) around a tiny real
gemma4 GGUF, for the registry tests that push and read images back."""

from __future__ import annotations

import hashlib
from pathlib import Path

from publisher.ollama import image as oi
from support.gguf_factory import write_gemma4_gguf


def image_inputs(folder: Path, quant: str = "Q4_K_M") -> oi.ImageInputs:
    """A gemma4 `quant` image: the GGUF written as `folder/m-<quant>.gguf`, hashed."""
    path = folder / f"m-{quant}.gguf"
    write_gemma4_gguf(path)
    data = path.read_bytes()
    return oi.ImageInputs(
        gguf_path=path,
        gguf_sha256=hashlib.sha256(data).hexdigest(),
        gguf_size=len(data),
        model_family="gemma4",
        model_type="20.8B",
        file_type=quant,
        template="{{ .Prompt }}",
        params={"temperature": 0.6, "stop": ["<turn|>", "<|tool_response>"], "num_ctx": 8192},
        license="Gemma terms",
        renderer=None,
        parser="gemma4",
    )
