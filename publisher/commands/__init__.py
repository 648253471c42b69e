"""One small module per command (twine style); `publisher.cli` only registers them."""
