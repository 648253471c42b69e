"""Everything publisher knows about the Hugging Face Hub, in one room.

- `target`: the Hub target (`HuggingFaceTarget`): construction, apply's order, status.
- `session`: the client, the token, retries on HTTP 429, error lines, reading the repo.
- `access`: the preflight — may this token write to this repo (whoami, roles, write check).
- `plan`: what the repo must hold and what differs on the Hub (LFS sha256, git blob ids).
- `commits`: batching the uploads into atomic commits, handing over sha256s, ledger records.
- `progress`: huggingface_hub's upload byte counts routed to publisher's progress board.
- `readback`: the Hub's LFS sha256 after a commit, and what `ollama run hf.co/…` reaches.

Nothing here is imported by `publish --version` or `validate`, and no module imports
huggingface_hub at import time: it reads HF_ENDPOINT then (publisher/urls.py). The Hub's
quant-label rule lives with the card that prints it (`publisher/render/hub_labels.py`): this
room sends what render wrote and may read render's rules, never the reverse.
"""
