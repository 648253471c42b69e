"""Chat-template verification: a real-Go renderer for Ollama TEMPLATEs, a conversation corpus,
checks and lint, and a parity report against the model's reference Jinja template."""
