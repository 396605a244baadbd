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
from finance_pipeline.http.ratelimit import LeakyBucket, RateLimit
from finance_pipeline.http.stats import RequestStats

__all__ = [
    "ApiClient",
    "ApiError",
    "AuthenticationError",
    "BadResponseError",
    "LeakyBucket",
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
