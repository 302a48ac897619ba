"""The chain client: JSON-RPC over HTTP with middleware, WebSocket subscriptions, Multicall3."""

from tallyio.chain.client import ChainClient, build_client, compose
from tallyio.chain.errors import (
    AllEndpointsFailedError,
    BadAnswerError,
    ChainError,
    RateLimitedError,
    RpcError,
    RpcTransportError,
    redact,
)
from tallyio.chain.rpc import (
    HttpTransport,
    Middleware,
    Request,
    RequestFn,
    RpcBatch,
    RpcCall,
    RpcClient,
    call,
)

__all__ = [
    "AllEndpointsFailedError",
    "BadAnswerError",
    "ChainClient",
    "ChainError",
    "HttpTransport",
    "Middleware",
    "RateLimitedError",
    "Request",
    "RequestFn",
    "RpcBatch",
    "RpcCall",
    "RpcClient",
    "RpcError",
    "RpcTransportError",
    "build_client",
    "call",
    "compose",
    "redact",
]
