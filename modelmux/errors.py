"""One exception tree for everything that can go wrong while serving a request.

Each class carries the HTTP status and the OpenAI error `type`/`code` a client should see.
Foreign errors (aiohttp, google-auth, upstream bodies) are translated into these once, at the
boundary where they occur; one middleware renders them as OpenAI error bodies.

    ModelmuxError                      500 server_error
    ├── InvalidRequest                 400 invalid_request_error
    │   └── UnsupportedFeature         400 invalid_request_error (code: unsupported_*)
    ├── InvalidApiKey                  401 invalid_request_error (code: invalid_api_key)
    ├── PermissionDenied               403 permission_error
    ├── NotFound                       404 invalid_request_error
    │   └── ModelNotFound              404 invalid_request_error (code: model_not_found)
    ├── MethodNotAllowed               405 invalid_request_error
    ├── PayloadTooLarge                413 invalid_request_error
    ├── RateLimited                    429 rate_limit_error (Retry-After kept)
    ├── UpstreamError                  502 server_error (Vertex answered something unusable)
    ├── UpstreamTimeout                504 server_error
    ├── Overloaded                     503 server_error (upstream 503/529)
    └── CredentialsError               503 server_error (the proxy's own Google credentials failed)
"""

from __future__ import annotations

from typing import Any

# What a client sees when something unexpected fails on our side (details go to the log only).
INTERNAL_ERROR_MESSAGE = "The server had an error while processing your request."


class ModelmuxError(Exception):
    status: int = 500
    error_type: str = "server_error"
    default_code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        upstream_request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.retry_after = retry_after
        self.upstream_request_id = upstream_request_id

    def to_body(self) -> dict[str, Any]:
        """The OpenAI error body: all four keys present, nullable ones as null."""
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, round(self.retry_after)))}


class InvalidRequest(ModelmuxError):
    status = 400
    error_type = "invalid_request_error"


class UnsupportedFeature(InvalidRequest):
    default_code = "unsupported_parameter"


class InvalidApiKey(ModelmuxError):
    status = 401
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class PermissionDenied(ModelmuxError):
    status = 403
    error_type = "permission_error"


class NotFound(ModelmuxError):
    status = 404
    error_type = "invalid_request_error"
    default_code = "not_found"


class ModelNotFound(NotFound):
    default_code = "model_not_found"


class MethodNotAllowed(ModelmuxError):
    status = 405
    error_type = "invalid_request_error"
    default_code = "method_not_allowed"


class PayloadTooLarge(ModelmuxError):
    status = 413
    error_type = "invalid_request_error"
    default_code = "request_too_large"


class RateLimited(ModelmuxError):
    status = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class UpstreamError(ModelmuxError):
    status = 502
    error_type = "server_error"
    default_code = "upstream_error"


class UpstreamTimeout(ModelmuxError):
    status = 504
    error_type = "server_error"
    default_code = "upstream_timeout"


class Overloaded(ModelmuxError):
    status = 503
    error_type = "server_error"
    default_code = "overloaded"


class CredentialsError(ModelmuxError):
    status = 503
    error_type = "server_error"
    default_code = "upstream_credentials_failed"
