"""Licences as data: the Hub's licence identifiers and the licence texts the product carries.

`HUB_LICENSES` is the table of hub-docs `docs/hub/repositories-licenses.md` (the "region
licenses" block, read 2026-11-29 at hub-docs 008d54d0): identifier → full name, in the table's
order. A card's `license:` must be one of these ids; `other` also needs a `license_name` (and the
licence text in the repo), and only `other` gets a `license_link` — for every listed id the Hub
links its own text. `BUILTIN_TEXTS` maps the ids whose full text ships with the product (in
`publisher/templates/licenses/`) to that file and the text's canonical address; the Ollama
LICENSE layer of a release under such an id is that text, so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LICENSES_DIR = Path(__file__).resolve().parent / "templates" / "licenses"
OTHER = "other"

HUB_LICENSES: dict[str, str] = {
    "apache-2.0": "Apache license 2.0",
    "mit": "MIT",
    "openrail": "OpenRAIL license family",
    "bigscience-openrail-m": "BigScience OpenRAIL-M",
    "creativeml-openrail-m": "CreativeML OpenRAIL-M",
    "bigscience-bloom-rail-1.0": "BigScience BLOOM RAIL 1.0",
    "bigcode-openrail-m": "BigCode Open RAIL-M v1",
    "afl-3.0": "Academic Free License v3.0",
    "artistic-2.0": "Artistic license 2.0",
    "bsl-1.0": "Boost Software License 1.0",
    "bsd": "BSD license family",
    "bsd-2-clause": 'BSD 2-clause "Simplified" license',
    "bsd-3-clause": 'BSD 3-clause "New" or "Revised" license',
    "bsd-3-clause-clear": "BSD 3-clause Clear license",
    "c-uda": "Computational Use of Data Agreement",
    "cc": "Creative Commons license family",
    "cc0-1.0": "Creative Commons Zero v1.0 Universal",
    "cc-by-2.0": "Creative Commons Attribution 2.0",
    "cc-by-2.5": "Creative Commons Attribution 2.5",
    "cc-by-3.0": "Creative Commons Attribution 3.0",
    "cc-by-4.0": "Creative Commons Attribution 4.0",
    "cc-by-sa-3.0": "Creative Commons Attribution Share Alike 3.0",
    "cc-by-sa-4.0": "Creative Commons Attribution Share Alike 4.0",
    "cc-by-nc-2.0": "Creative Commons Attribution Non Commercial 2.0",
    "cc-by-nc-3.0": "Creative Commons Attribution Non Commercial 3.0",
    "cc-by-nc-4.0": "Creative Commons Attribution Non Commercial 4.0",
    "cc-by-nd-4.0": "Creative Commons Attribution No Derivatives 4.0",
    "cc-by-nc-nd-3.0": "Creative Commons Attribution Non Commercial No Derivatives 3.0",
    "cc-by-nc-nd-4.0": "Creative Commons Attribution Non Commercial No Derivatives 4.0",
    "cc-by-nc-sa-2.0": "Creative Commons Attribution Non Commercial Share Alike 2.0",
    "cc-by-nc-sa-3.0": "Creative Commons Attribution Non Commercial Share Alike 3.0",
    "cc-by-nc-sa-4.0": "Creative Commons Attribution Non Commercial Share Alike 4.0",
    "cdla-sharing-1.0": "Community Data License Agreement – Sharing, Version 1.0",
    "cdla-permissive-1.0": "Community Data License Agreement – Permissive, Version 1.0",
    "cdla-permissive-2.0": "Community Data License Agreement – Permissive, Version 2.0",
    "wtfpl": "Do What The F*ck You Want To Public License",
    "ecl-2.0": "Educational Community License v2.0",
    "epl-1.0": "Eclipse Public License 1.0",
    "epl-2.0": "Eclipse Public License 2.0",
    "etalab-2.0": "Etalab Open License 2.0",
    "eupl-1.1": "European Union Public License 1.1",
    "agpl-3.0": "GNU Affero General Public License v3.0",
    "gfdl": "GNU Free Documentation License family",
    "gpl": "GNU General Public License family",
    "gpl-2.0": "GNU General Public License v2.0",
    "gpl-3.0": "GNU General Public License v3.0",
    "lgpl": "GNU Lesser General Public License family",
    "lgpl-2.1": "GNU Lesser General Public License v2.1",
    "lgpl-3.0": "GNU Lesser General Public License v3.0",
    "isc": "ISC",
    "lppl-1.3c": "LaTeX Project Public License v1.3c",
    "ms-pl": "Microsoft Public License",
    "mpl-2.0": "Mozilla Public License 2.0",
    "odc-by": "Open Data Commons License Attribution family",
    "odbl": "Open Database License family",
    "openrail++": "Open Rail++-M License",
    "osl-3.0": "Open Software License 3.0",
    "postgresql": "PostgreSQL License",
    "ofl-1.1": "SIL Open Font License 1.1",
    "ncsa": "University of Illinois/NCSA Open Source License",
    "unlicense": "The Unlicense",
    "zlib": "zLib License",
    "pddl": "Open Data Commons Public Domain Dedication and License",
    "lgpl-lr": "Lesser General Public License For Linguistic Resources",
    "deepfloyd-if-license": "DeepFloyd IF Research License Agreement",
    "llama2": "Llama 2 Community License Agreement",
    "gemma": "Gemma Terms of Use",
    "unknown": "Unknown",
    OTHER: "Other",
}


@dataclass(frozen=True)
class BuiltinText:
    """A licence text the product ships: its file and where the licensor publishes it."""

    file: str
    url: str

    @property
    def path(self) -> Path:
        return LICENSES_DIR / self.file


BUILTIN_TEXTS: dict[str, BuiltinText] = {
    # The Apache Software Foundation's LICENSE-2.0.txt, unchanged (Gemma 4's licence).
    "apache-2.0": BuiltinText("apache-2.0.txt", "https://www.apache.org/licenses/LICENSE-2.0"),
    # The notice Gemma ≤ 3 models carry (Gemma 4 moved to Apache-2.0).
    "gemma": BuiltinText("gemma-terms.txt", "https://ai.google.dev/gemma/terms"),
}


def unknown_license_message(value: str) -> str:
    """The one-line error for an id the Hub does not list, naming every id it does."""
    return (
        f"unknown Hub licence id {value!r}; expected one of the ids of hub-docs "
        f"repositories-licenses.md: {', '.join(HUB_LICENSES)}"
    )


def full_name(license_id: str) -> str:
    """The licence's name as the Hub's table gives it."""
    return HUB_LICENSES.get(license_id, license_id)


def builtin_text(license_id: str | None) -> str | None:
    """The full text the product carries for `license_id`, or None."""
    builtin = BUILTIN_TEXTS.get(license_id or "")
    return builtin.path.read_text(encoding="utf-8") if builtin else None
