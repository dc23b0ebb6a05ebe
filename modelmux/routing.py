"""Which Vertex model and location serve a client's `model` name (pure).

Aliases from `[[vertex.models]]` match case-insensitively, by alias name or by the Vertex model
ID itself. A name that matches nothing goes to the default model, so drop-in clients that send
`gpt-4o` keep working, unless `reject_unknown_models` says to answer 404 model_not_found.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelmux.errors import InvalidRequest, ModelNotFound
from modelmux.settings import VertexSettings


@dataclass(frozen=True, slots=True)
class Route:
    client_model: str  # echoed back in every response
    model_id: str  # Vertex model ID, e.g. "claude-sonnet-4-5@20250929"
    location: str


@dataclass(frozen=True, slots=True)
class ModelEntry:
    id: str  # the name listed by /v1/models
    model_id: str
    location: str


class ModelTable:
    def __init__(self, vertex: VertexSettings) -> None:
        self._default_location = vertex.location
        self._reject_unknown = vertex.reject_unknown_models
        self._default = (
            ModelEntry(vertex.model, vertex.model, vertex.location) if vertex.model else None
        )
        self.entries: list[ModelEntry] = []
        self._by_name: dict[str, ModelEntry] = {}
        for alias in vertex.models:
            entry = ModelEntry(alias.name, alias.id, alias.location or vertex.location)
            self.entries.append(entry)
            self._by_name.setdefault(alias.name.lower(), entry)
        for entry in list(self.entries):
            self._by_name.setdefault(entry.model_id.lower(), entry)
        if self._default is not None and self._default.id.lower() not in self._by_name:
            self.entries.append(self._default)
            self._by_name[self._default.id.lower()] = self._default

    def lookup(self, name: str) -> ModelEntry | None:
        return self._by_name.get(name.lower())

    def route(self, client_model: object) -> Route:
        if not isinstance(client_model, str) or not client_model.strip():
            raise InvalidRequest(
                "you must provide a model parameter (a non-empty string)", param="model"
            )
        entry = self._by_name.get(client_model.lower())
        if entry is None:
            if self._reject_unknown or self._default is None:
                raise ModelNotFound(
                    f"The model `{client_model[:200]}` does not exist or you do not have access to it.",
                    param="model",
                )
            entry = self._default
        return Route(client_model, entry.model_id, entry.location)
