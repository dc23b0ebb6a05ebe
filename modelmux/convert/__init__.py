"""Pure OpenAI ⇄ Anthropic-on-Vertex translation: no I/O, no aiohttp/google-auth/structlog."""

from modelmux.convert.errors import from_stream_error, from_upstream
from modelmux.convert.request import (
    ConvertedRequest,
    ConvertOptions,
    JsonMode,
    RemoteImage,
    inline_remote,
    to_anthropic,
)
from modelmux.convert.response import new_completion_id, to_openai
from modelmux.convert.stream import StreamTranslator

__all__ = [
    "ConvertOptions",
    "ConvertedRequest",
    "JsonMode",
    "RemoteImage",
    "StreamTranslator",
    "from_stream_error",
    "from_upstream",
    "inline_remote",
    "new_completion_id",
    "to_anthropic",
    "to_openai",
]
