"""GGUF reading and release checks: a fast header reader and named verification results."""
