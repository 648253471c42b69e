"""Everything publisher knows about the Hugging Face Hub, in one room.

- `target`: the Hub target (`HuggingFaceTarget`): explicit parts wired together, apply's order,
  status, which tags the Hub holds (`remote_tags`).
- `session`: `HubSession`, the client, the token, retries on HTTP 429, error lines, reading the
  repo (tree, LFS details, a file, the head commit).
- `access`: `HubAccess`, the preflight — may this token write here (whoami, roles, write check).
- `plan`: `HubPlanner` → `HubPlan` (operations + the bytes and local files they send + what was
  read): what the repo must hold and what differs on the Hub (LFS sha256, git blob ids).
- `commits`: `HubCommitter`, batching uploads into atomic commits, handing over sha256s, ledger
  records.
- `progress`: huggingface_hub's upload byte counts routed to publisher's progress board.
- `readback`: the Hub's LFS sha256 after a commit, and what `ollama run hf.co/…` reaches.
- `labels`: the Hub's quant-label rule (which hf.co tag reaches which file).

Nothing here is imported by `publish --version` or `validate` except `labels`, and no module
imports huggingface_hub at import time: it reads HF_ENDPOINT then (publisher/urls.py).
"""
