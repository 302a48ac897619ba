"""Typed chain-client errors, and `redact` so that no endpoint secret reaches a message or a log.

ChainError
  RpcError              the node answered with a JSON-RPC error: deterministic, never retried
  RpcTransportError     no usable answer: refused, timed out, bad HTTP status, bad answer
    BadAnswerError      the endpoint answered, but not with JSON-RPC (garbage, missing result)
    RateLimitedError    HTTP 429 or a rate-limit JSON-RPC error: retried after a pause
    AllEndpointsFailedError   every endpoint of a failover list failed; lists each one
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

HIDDEN = "***"
# A path segment this long made of key characters is taken to be an API key
# (Infura /v3/<key>, Alchemy /v2/<key>, QuickNode /<token>/).
_KEY_SEGMENT = re.compile(r"^[A-Za-z0-9_\-]{20,}$")
_RATE_LIMIT = re.compile(
    r"rate.?limit|too many requests|request limit|capacity|quota|compute units|throughput",
    re.IGNORECASE,
)
_SNIPPET = 200


def redact(url: str) -> str:
    """`url` without credentials: user:pass, query values and key-like path segments become ***."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return HIDDEN  # unparseable: show nothing rather than a secret
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    if parts.username or parts.password:
        netloc = f"{HIDDEN}@{netloc}"
    path = "/".join(HIDDEN if _KEY_SEGMENT.match(seg) else seg for seg in parts.path.split("/"))
    query = "&".join(f"{k}={HIDDEN}" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def _secrets(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [parts.username or "", parts.password or ""]
    found += [v for _, v in parse_qsl(parts.query, keep_blank_values=True)]
    found += [seg for seg in parts.path.split("/") if _KEY_SEGMENT.match(seg)]
    return sorted({s for s in found if len(s) >= 3}, key=len, reverse=True)


def redact_text(text: str, url: str) -> str:
    """`text` with the URL and every secret in it replaced (aiohttp errors may quote the URL)."""
    text = text.replace(url, redact(url))
    for secret in _secrets(url):
        text = text.replace(secret, HIDDEN)
    return text


def snippet(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = " ".join(text.split())
    return repr(text[:_SNIPPET] + ("..." if len(text) > _SNIPPET else ""))


class ChainError(Exception):
    """Anything the chain client raises."""


class RpcError(ChainError):
    """The node answered `method` with a JSON-RPC error (e.g. execution reverted)."""

    def __init__(self, url: str, method: str, code: int, message: str, data: Any = None) -> None:
        self.endpoint = redact(url)
        self.method = method
        self.code = code
        self.message = redact_text(message, url)
        self.data = data
        extra = f", data {str(data)[:_SNIPPET]}" if data is not None else ""
        super().__init__(f"{method} at {self.endpoint}: {self.message} (code {code}{extra})")


class RpcTransportError(ChainError):
    """No usable answer to `method` from the endpoint at `url`."""

    def __init__(self, url: str, method: str, reason: str) -> None:
        self.endpoint = redact(url)
        self.method = method
        self.reason = redact_text(reason, url)
        super().__init__(f"{method} at {self.endpoint}: {self.reason}")


class BadAnswerError(RpcTransportError):
    """The endpoint answered something that is not a JSON-RPC answer to our request."""

    def __init__(self, url: str, method: str, reason: str) -> None:
        super().__init__(url, method, f"bad RPC answer: {reason}")


class RateLimitedError(RpcTransportError):
    """The endpoint refused for rate; `retry_after` is its hint in seconds, if it gave one."""

    def __init__(
        self, url: str, method: str, reason: str, retry_after: float | None = None
    ) -> None:
        super().__init__(url, method, f"rate limited: {reason}")
        self.retry_after = retry_after


class AllEndpointsFailedError(RpcTransportError):
    """Every endpoint failed `method`; `failures`: (redacted endpoint, reason), in order tried."""

    def __init__(self, method: str, failures: Sequence[tuple[str, str]]) -> None:
        self.failures = tuple(failures)
        listed = "; ".join(f"{endpoint}: {reason}" for endpoint, reason in self.failures)
        ChainError.__init__(self, f"{method}: all {len(self.failures)} endpoints failed: {listed}")
        self.endpoint = ",".join(endpoint for endpoint, _ in self.failures)
        self.method = method
        self.reason = listed


def error_from_answer(url: str, method: str, error: Any) -> RpcError | RateLimitedError:
    """The typed error for a JSON-RPC `error` member; raises BadAnswerError if it is malformed."""
    if not isinstance(error, dict):
        raise BadAnswerError(url, method, f"error member is not an object: {snippet(str(error))}")
    code, message = error.get("code"), error.get("message")
    if not isinstance(code, int) or not isinstance(message, str):
        raise BadAnswerError(url, method, f"error without code/message: {snippet(str(error))}")
    if code == 429 or _RATE_LIMIT.search(message):
        return RateLimitedError(url, method, f"{message} (code {code})")
    return RpcError(url, method, code, message, error.get("data"))
