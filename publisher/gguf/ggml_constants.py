"""gguf-py's `constants` module (ggml types, file types, block sizes) without the rest of gguf-py.

`from gguf.constants import ...` first runs `gguf/__init__.py`, which imports the reader, the
writer and numpy (~0.3 s of CPU): `publish validate` and every `--help` would pay it for three
enums. `gguf/constants.py` itself imports only `enum` and `typing`, so it is loaded here from its
file under its own name, `gguf.constants`: a later `import gguf` finds it in `sys.modules` and
reuses it (`from .constants import *`), so there is one `GGMLQuantizationType` in the process and
identity and `isinstance` hold across gguf-py and publisher alike. (The one thing this cannot
do: set the attribute `gguf.constants` on the package imported later; `from gguf.constants
import X` and `gguf.X` both work, `import gguf; gguf.constants.X` does not. No code here uses
that spelling.)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING


def _constants() -> ModuleType:
    """`gguf.constants`, loaded alone unless gguf-py (or this module) already loaded it."""
    loaded = sys.modules.get("gguf.constants")
    if loaded is not None:
        return loaded
    package = importlib.util.find_spec("gguf")
    if package is None or not package.submodule_search_locations:
        raise ModuleNotFoundError("gguf-py is not installed", name="gguf")
    path = Path(next(iter(package.submodule_search_locations))) / "constants.py"
    spec = importlib.util.spec_from_file_location("gguf.constants", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules["gguf.constants"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["gguf.constants"]
        raise
    return module


if TYPE_CHECKING:  # the same names, typed, for a type checker
    from gguf.constants import (
        GGML_QUANT_SIZES,
        GGUF_DEFAULT_ALIGNMENT,
        GGMLQuantizationType,
        GGUFValueType,
        LlamaFileType,
    )
else:
    _module = _constants()
    GGML_QUANT_SIZES = _module.GGML_QUANT_SIZES
    GGUF_DEFAULT_ALIGNMENT = _module.GGUF_DEFAULT_ALIGNMENT
    GGMLQuantizationType = _module.GGMLQuantizationType
    GGUFValueType = _module.GGUFValueType
    LlamaFileType = _module.LlamaFileType

__all__ = [
    "GGML_QUANT_SIZES",
    "GGUF_DEFAULT_ALIGNMENT",
    "GGMLQuantizationType",
    "GGUFValueType",
    "LlamaFileType",
]
