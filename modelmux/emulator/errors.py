"""Error bodies in the two shapes Vertex returns: Anthropic's (model side) and Google's (front end).

wire-formats.md B.8: validation and model errors pass through as Anthropic objects; auth, quota
and routing errors come from Google's front end, sometimes wrapped in a JSON array.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

__all__ = [
    "anthropic_error",
    "anthropic_error_type",
    "google_error",
    "google_status_name",
    "new_id",
]

_ALPHABET = string.ascii_letters + string.digits

_ANTHROPIC_TYPES = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "Invalid authentication credentials."),
    402: ("billing_error", "Your credit balance is too low."),
    403: ("permission_error", "Your account does not have permission to use this resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your rate limit."),
    500: ("api_error", "Internal server error"),
    503: ("overloaded_error", "Overloaded"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}

_GOOGLE_STATUS = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: (
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
    ),
    403: (
        "PERMISSION_DENIED",
        "Permission 'aiplatform.endpoints.predict' denied on resource (or it may not exist).",
    ),
    404: ("NOT_FOUND", "Requested entity was not found."),
    409: ("ABORTED", "The operation was aborted."),
    429: (
        "RESOURCE_EXHAUSTED",
        "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model "
        "with base model: anthropic-claude. Please submit a quota increase request.",
    ),
    499: ("CANCELLED", "The operation was cancelled."),
    500: ("INTERNAL", "Internal error encountered."),
    501: ("UNIMPLEMENTED", "Operation is not implemented."),
    503: ("UNAVAILABLE", "The service is currently unavailable."),
    504: ("DEADLINE_EXCEEDED", "The request deadline was exceeded."),
}


def new_id(prefix: str, length: int = 24) -> str:
    """Random id in Anthropic's style (`msg_vrtx_01…`, `toolu_vrtx_01…`, `req_vrtx_01…`)."""
    n = int.from_bytes(secrets.token_bytes(length), "big")  # one syscall, not one per char
    chars = []
    for _ in range(length):
        n, digit = divmod(n, 62)
        chars.append(_ALPHABET[digit])
    return prefix + "01" + "".join(chars)


def anthropic_error_type(status: int) -> str:
    if status in _ANTHROPIC_TYPES:
        return _ANTHROPIC_TYPES[status][0]
    return "api_error" if status >= 500 else "invalid_request_error"


def anthropic_error(
    status: int, message: str | None = None, *, request_id: str | None = None
) -> dict[str, Any]:
    """`{"type":"error","error":{"type","message"},"request_id"}` for an HTTP status."""
    default = _ANTHROPIC_TYPES.get(status, (None, "Error"))[1]
    return {
        "type": "error",
        "error": {"type": anthropic_error_type(status), "message": message or default},
        "request_id": request_id or new_id("req_vrtx_"),
    }


def google_status_name(status: int) -> str:
    if status in _GOOGLE_STATUS:
        return _GOOGLE_STATUS[status][0]
    return "INTERNAL" if status >= 500 else "FAILED_PRECONDITION"


def google_error(
    status: int,
    status_name: str | None = None,
    message: str | None = None,
    *,
    details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`{"error":{"code","message","status"}}` as Google's front end answers."""
    default = _GOOGLE_STATUS.get(status, ("", "Error"))[1]
    error: dict[str, Any] = {
        "code": status,
        "message": message or default,
        "status": status_name or google_status_name(status),
    }
    if details:
        error["details"] = details
    return {"error": error}
