"""CloudWatch Logs as a reader meets it: ingestion takes a moment, and FilterLogEvents is rationed.

- **Ingestion lag.** A log event is not searchable the moment it is written: FilterLogEvents and
  GetLogEvents return it only once ingested, typically seconds later ("Partially full or empty
  pages don't necessarily mean that pagination is finished",
  https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html).
  Locally an event is visible ``REINTENTO_LOGS_INGESTION_SECONDS`` (default 2) after it was put;
  moto showed it at once, so a reader that counted REPORT lines right after its calls looked
  right locally and undercounted on AWS.
- **Request rate.** FilterLogEvents is limited to 5 requests per second per account and Region
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html); over it,
  AWS answers ``ThrottlingException``. Locally too.
- **The request id.** Lambda's Invoke answer carries the invocation's request id
  (``x-amzn-RequestId``), the id of its START/END/REPORT lines
  (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html), so a caller can wait for the
  REPORT lines of its own calls (set in ``lambda_runtime``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from reintento_local.cadence import seconds_from_env

INGESTION_SECONDS_VARIABLE = "REINTENTO_LOGS_INGESTION_SECONDS"
DEFAULT_INGESTION_SECONDS = 2.0
FILTER_LOG_EVENTS_PER_SECOND = 5


def ingestion_seconds() -> float:
    return seconds_from_env(INGESTION_SECONDS_VARIABLE, DEFAULT_INGESTION_SECONDS)


class RateQuota:
    """At most ``per_second`` calls in any one-second window, per key (account and Region)."""

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self.calls: dict[Any, deque[float]] = {}
        self.lock = threading.Lock()

    def admit(self, key: Any, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self.lock:
            window = self.calls.setdefault(key, deque())
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= self.per_second:
                return False
            window.append(now)
            return True


def visible(events: list[dict[str, Any]], lag_ms: int, now_ms: int) -> list[dict[str, Any]]:
    """The events already ingested ``lag_ms`` ago (the ones a reader can see now)."""
    return [e for e in events if int(e.get("ingestionTime", 0)) <= now_ms - lag_ms]


def install() -> None:
    from moto.core.exceptions import JsonRESTError
    from moto.logs import models as lm

    lag_ms = int(ingestion_seconds() * 1000)
    quota = RateQuota(FILTER_LOG_EVENTS_PER_SECOND)
    original_filter: Any = lm.LogsBackend.filter_log_events
    original_get: Any = lm.LogsBackend.get_log_events

    def filter_log_events(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not quota.admit((self.account_id, self.region_name)):
            raise JsonRESTError("ThrottlingException", "Rate exceeded")
        events, token, searched = original_filter(self, *args, **kwargs)
        return visible(events, lag_ms, int(time.time() * 1000)), token, searched

    def get_log_events(self: Any, *args: Any, **kwargs: Any) -> Any:
        events, backward, forward = original_get(self, *args, **kwargs)
        return visible(events, lag_ms, int(time.time() * 1000)), backward, forward

    setattr(lm.LogsBackend, "filter_log_events", filter_log_events)  # noqa: B010
    setattr(lm.LogsBackend, "get_log_events", get_log_events)  # noqa: B010
