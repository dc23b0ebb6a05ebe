"""The bundled Vertex AI emulator: Google's token endpoint plus Anthropic's publisher endpoints.

A product feature (offline testing of OpenAI clients) and the upstream of modelmux's own tests.
See docs/emulator.md for the prompt directives that script its replies.
"""

from modelmux.emulator.app import EmulatorHandle, start_emulator
from modelmux.emulator.validation import ValidationFailed, validate_messages_request

__all__ = ["EmulatorHandle", "ValidationFailed", "start_emulator", "validate_messages_request"]
