"""Everything publisher knows about Ollama, in one room.

- `auth`: ollama.com's signed token requests (the user's ed25519 key).
- `image`: the Ollama image of a tag (config blob and layers) exactly as `ollama create` writes it.
- `registry`: an OCI distribution client with Ollama's upload semantics (push, read back).
- `push`: the target that pushes images straight to a registry (ollama.com or any OCI registry).
- `upload`: one blob's upload with Ollama's retry semantics; `readback`: a pushed image read back.
- `daemon`: the target that publishes through a local `ollama serve` (its plan); `daemon_steps`
  runs that plan, `daemon_api` is the daemon's HTTP/NDJSON API.
- `show`: what the daemon reports (`/api/show`, versions).
- `smoke`: `publish smoke`, real conversations through a tag on a local Ollama.
"""
