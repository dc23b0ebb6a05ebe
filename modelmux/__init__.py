"""modelmux: an OpenAI-compatible proxy for Claude models on Google Vertex AI."""

__version__ = "0.1.0"
