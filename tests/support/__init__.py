"""Test helpers that are not stand-ins: GGUF writers, fixtures, parsers, the Go test program."""
