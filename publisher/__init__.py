"""publisher: verify a GGUF quant ladder and publish it to Ollama and the Hugging Face Hub."""

__version__ = "0.1.0"
