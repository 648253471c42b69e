"""`publish smoke`: template smoke tests through a tag on a local Ollama, judged turn by turn.

- `cases`: the case files (strict) and the JSON-schema subset tool arguments are checked with.
- `checks`: judging one reply, and `/api/show` against the manifest (pure functions).
- `runner`: the conversations against the daemon, the matrix, the seeds.
- `report`: results, rates and the --json shape.
- `scratch`: `--create`'s scratch copy made through the daemon target.

It lives in `publisher/ollama/` because every part of it is an Ollama fact: /api/chat and
/api/show, Ollama's parameters, renderer/parser and stop handling (docs/design-notes.md note 3).
"""
