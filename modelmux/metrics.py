"""Request counters for /health (and, later, Prometheus exposition).

Counted honestly: a request succeeds when its whole answer was delivered (for a stream: it
completed with message_stop), `quota_errors` counts 429s received from Vertex (retried or not),
`retry_attempts` counts retries actually performed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(slots=True)
class Stats:
    total_requests: int = 0
    successful_requests: int = 0
    failed_requests: int = 0
    quota_errors: int = 0
    retry_attempts: int = 0
    token_refreshes: int = 0
    active_streams: int = 0

    def health_summary(self) -> dict[str, int]:
        return asdict(self)
