"""Per-model-family behaviour, as data: which thinking mode a family takes and which sampling
knobs it refuses. Matched against the Vertex model id (date/version suffix stripped)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class ModelFamily:
    pattern: str  # regex, full match against the normalised Vertex model id
    thinking: str  # "none" | "budget" ({type:enabled,budget_tokens}) | "adaptive" ({type:adaptive}+effort)
    accepts_budget: bool  # an explicit {"type":"enabled","budget_tokens":N} is accepted
    efforts: tuple[str, ...]  # output_config.effort values the family accepts (adaptive only)
    exclusive_sampling: bool  # rejects `temperature` and `top_p` in the same request


_NEWEST_EFFORTS = ("low", "medium", "high", "xhigh", "max")

# First match wins. Keep this in step with docs/compatibility.md ("Model families").
MODEL_FAMILIES: tuple[ModelFamily, ...] = (
    ModelFamily(r"claude-opus-4-([7-9]|\d\d)", "adaptive", False, _NEWEST_EFFORTS, True),
    ModelFamily(r"claude-[a-z]+-([5-9]|\d\d)(-\d+)?", "adaptive", False, _NEWEST_EFFORTS, True),
    ModelFamily(
        r"claude-(opus|sonnet)-4-6", "adaptive", True, ("low", "medium", "high", "max"), True
    ),
    ModelFamily(r"claude-(opus-4-5|opus-4-1|sonnet-4-5|haiku-4-5)", "budget", True, (), True),
    ModelFamily(r"claude-(opus|sonnet)-4", "budget", True, (), False),
    ModelFamily(r"claude-3-7-sonnet", "budget", True, (), False),
    ModelFamily(r"claude-3(-\d)?-.*", "none", False, (), False),
)
# Unknown ids: assume a current model (budget thinking, one of temperature/top_p only).
DEFAULT_FAMILY = ModelFamily(r".*", "budget", True, (), True)

# reasoning_effort -> budget_tokens for "budget" families (LiteLLM's numbers, plus xhigh/minimal).
THINKING_BUDGETS: dict[str, int] = {
    "minimal": 1024,
    "low": 1024,
    "medium": 2048,
    "high": 4096,
    "xhigh": 8192,
}
# reasoning_effort -> output_config.effort preference list for "adaptive" families (first accepted wins).
ADAPTIVE_EFFORTS: dict[str, tuple[str, ...]] = {
    "minimal": ("low",),
    "low": ("low",),
    "medium": ("medium",),
    "high": ("high",),
    "xhigh": ("xhigh", "high"),
}

_SUFFIX = re.compile(r"(@.*|-\d{8}|-v\d+(:\d+)?)$")
_COMPILED = tuple((re.compile(f.pattern), f) for f in MODEL_FAMILIES)


def normalise_model_id(model_id: str) -> str:
    """`publishers/anthropic/models/claude-sonnet-4-5@20250929` -> `claude-sonnet-4-5`."""
    mid = model_id.rsplit("/", 1)[-1].strip().lower()
    return _SUFFIX.sub("", mid)


@lru_cache(maxsize=256)
def family_for(model_id: str) -> ModelFamily:
    mid = normalise_model_id(model_id)
    for rx, fam in _COMPILED:
        if rx.fullmatch(mid):
            return fam
    return DEFAULT_FAMILY
