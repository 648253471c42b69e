"""The release pipeline: the named steps of `publish release` and the plan as a person reads it.

A feature package: it sits above every room (`manifest`, `gguf`, `render`, `chat`, `targets`,
`ollama`, `huggingface`) and the shared kernel, and nothing below imports it.
"""
