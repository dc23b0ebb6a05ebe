"""`reasoning_effort` / an explicit `thinking` object → the thinking config each model family
takes (see models.py): budget families get `{type: enabled, budget_tokens}`, adaptive families
`{type: adaptive}` plus, when enabled in the options, an `output_config.effort`.

Also the history rule that switches thinking off: OpenAI clients cannot send thinking blocks
back, so a request mid tool loop or with an assistant prefill cannot have thinking turned on.
"""

from __future__ import annotations

from modelmux.convert.models import (
    ADAPTIVE_EFFORTS,
    THINKING_BUDGETS,
    ModelFamily,
)
from modelmux.convert.validators import bad, is_int

REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


def convert_thinking(
    body: dict, fam: ModelFamily, *, output_config: bool
) -> tuple[dict | None, dict | None]:
    """Returns (thinking, output_config); either may be None. `output_config`: whether
    adaptive thinking may carry an `output_config.effort` (ConvertOptions.output_config)."""
    explicit = body.get("thinking")
    if explicit is not None:
        if not isinstance(explicit, dict) or not isinstance(explicit.get("type"), str):
            raise bad("thinking", "expected an object with a 'type'")
        ttype = explicit["type"]
        if ttype == "disabled":
            return (None, None) if fam.thinking == "adaptive" else (dict(explicit), None)
        if ttype == "enabled":
            budget = explicit.get("budget_tokens")
            if not is_int(budget) or budget < 1024:
                raise bad("thinking.budget_tokens", "expected an integer >= 1024")
            if not fam.accepts_budget and fam.thinking == "adaptive":
                level = next((e for e, b in THINKING_BUDGETS.items() if budget <= b), "xhigh")
                return _adaptive(explicit, level, fam, output_config)
        if ttype == "adaptive" and fam.thinking == "budget":
            return {"type": "enabled", "budget_tokens": THINKING_BUDGETS["medium"]}, None
        return dict(explicit), None
    effort = body.get("reasoning_effort")
    if effort is None:
        return None, None
    if effort not in REASONING_EFFORTS:
        raise bad("reasoning_effort", f"expected one of {', '.join(REASONING_EFFORTS)}")
    if effort == "none" or fam.thinking == "none":
        return None, None
    if fam.thinking == "budget":
        return {"type": "enabled", "budget_tokens": THINKING_BUDGETS[effort]}, None
    return _adaptive({}, effort, fam, output_config)


def _adaptive(
    base: dict, effort: str, fam: ModelFamily, output_config: bool
) -> tuple[dict, dict | None]:
    # keep whatever else the client set; adaptive thinking takes no budget
    thinking = {k: v for k, v in base.items() if k not in ("type", "budget_tokens")}
    thinking = {"type": "adaptive", **thinking}
    if not output_config:
        return thinking, None
    # the closest effort this family accepts, else none at all (the family's default)
    chosen = next((e for e in ADAPTIVE_EFFORTS.get(effort, ()) if e in fam.efforts), None)
    return thinking, ({"effort": chosen} if chosen else None)


def history_blocks_thinking(messages: list[dict]) -> bool:
    """Thinking cannot be switched on mid tool loop (the previous assistant turn would need its
    thinking blocks, which OpenAI clients cannot send back), nor with an assistant prefill."""
    last = messages[-1]
    if last["role"] == "assistant":
        return True
    return any(blk["type"] == "tool_result" for blk in last["content"])
