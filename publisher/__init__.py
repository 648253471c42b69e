"""publisher: verify a GGUF quant ladder and publish it to Ollama and the Hugging Face Hub.

The layering (enforced by tests/test_architecture.py, which reads every import, lazy and
type-only ones included): a module imports only from its own layer or the layers below it, and
no two modules import each other, even through others.

1. The shared kernel — the top-level modules (`errors`, `files`, `statefile`, `lock`, `digest`,
   `ledger`, `console`, `progress`, `urls`, `licenses`, `architectures`, `field_errors`). They
   know no room and import only each other. This file imports nothing, so `from publisher import
   __version__` is safe anywhere.
2. The rooms, one concern each, bottom up; a room may import the kernel, itself, and the rooms
   listed after its name:
   - `manifest`: none (it reads llama-quantize's vocabulary, `gguf/quant_layout.py`, a fact
     module that imports nothing but the kernel);
   - `gguf`: manifest;
   - `chat`: manifest, gguf;
   - `render`: manifest — it reads verify's reports duck-typed (`render/facts.py`), and it
     holds the rules of the formats it writes, even a destination's (Ollama's Modelfile, the
     Hub's reading of file names in `render/hub_labels.py`);
   - `targets` (the interface, `targets/base.py`): manifest;
   - `ollama` and `huggingface`, the destinations: every room above, never each other.
3. The features, on top: they may import every room. `pipeline` (release, seal, plan view and
   `pipeline/targets.py`, the table of target factories, which names every destination);
   `scaffold` (`publish init`) uses only rooms; `commands` may use all of them; `cli` uses the
   commands and holds no logic.

Inside a package, a module imports a sibling by its module path (`publisher.render.numbers`),
never through the package's `__init__`, which may still be importing it.
"""

__version__ = "0.1.0"
