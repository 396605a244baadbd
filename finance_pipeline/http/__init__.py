"""The one HTTP layer every source uses: client, rate limiter, retries, paging, stats, masking."""

from finance_pipeline.http.client import ApiClient, RetryPolicy
from finance_pipeline.http.errors import (
    ApiError,
    AuthenticationError,
    BadResponseError,
    NetworkError,
    NotFoundError,
    PaymentRequiredError,
    RequestRejectedError,
    ServerError,
    ThrottledError,
)
from finance_pipeline.http.masking import mask, register_secret
from finance_pipeline.http.ratelimit import (
    AdaptiveLimiter,
    LeakyBucket,
    LimiterPolicy,
    RateLimit,
)
from finance_pipeline.http.stats import RequestStats

__all__ = [
    "AdaptiveLimiter",
    "ApiClient",
    "ApiError",
    "AuthenticationError",
    "BadResponseError",
    "LeakyBucket",
    "LimiterPolicy",
    "NetworkError",
    "NotFoundError",
    "PaymentRequiredError",
    "RateLimit",
    "RequestRejectedError",
    "RequestStats",
    "RetryPolicy",
    "ServerError",
    "ThrottledError",
    "mask",
    "register_secret",
]
