"""redact() and the typed errors: no endpoint secret ever reaches a message."""

from __future__ import annotations

import pytest

from tallyio.chain.errors import (
    AllEndpointsFailedError,
    BadAnswerError,
    RateLimitedError,
    RpcError,
    RpcTransportError,
    error_from_answer,
    redact,
    redact_text,
)

INFURA_KEY = "9aa3d95b3bc440fa88ea12eaa4456161"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("https://user:hunter2@node.example:8545/rpc", "https://***@node.example:8545/rpc"),
        ("https://node.example/?apikey=s3cret&x=1", "https://node.example/?apikey=***&x=***"),
        (f"https://mainnet.infura.io/v3/{INFURA_KEY}", "https://mainnet.infura.io/v3/***"),
        (
            "wss://eth-mainnet.g.alchemy.com/v2/AbCdEfGh_ijkLmnop-qrstuv",
            "wss://eth-mainnet.g.alchemy.com/v2/***",
        ),
        ("http://[::1]:8545/", "http://[::1]:8545/"),
        ("http://host:notaport/", "***"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_redact_text_removes_every_secret() -> None:
    url = f"https://alice:pw1234@node.example/v3/{INFURA_KEY}?token=tok999"
    text = f"Cannot connect to {url} (user alice, key {INFURA_KEY}, token tok999, pw pw1234)"
    out = redact_text(text, url)
    for secret in ("pw1234", INFURA_KEY, "tok999", "alice"):
        assert secret not in out
    assert "node.example" in out


def test_errors_name_the_redacted_endpoint_and_method() -> None:
    url = "https://bob:secretpw@node.example/?key=abcdef"
    exc = RpcTransportError(url, "eth_call", f"refused by {url}")
    assert str(exc) == (
        "eth_call at https://***@node.example/?key=***: refused by https://***@node.example/?key=***"
    )
    bad = BadAnswerError(url, "eth_blockNumber", "not JSON")
    assert "bad RPC answer" in str(bad) and "secretpw" not in str(bad)
    rpc = RpcError(url, "eth_call", 3, "execution reverted", "0x08c379a0")
    assert (rpc.code, rpc.message, rpc.data) == (3, "execution reverted", "0x08c379a0")
    assert "abcdef" not in str(rpc)


def test_error_from_answer_types() -> None:
    url = "http://127.0.0.1:1"
    reverted = error_from_answer(url, "eth_call", {"code": 3, "message": "execution reverted"})
    assert type(reverted) is RpcError
    for err in (
        {"code": 429, "message": "slow down"},
        {"code": -32005, "message": "daily request count exceeded, request rate limited"},
        {"code": -32000, "message": "Your app has exceeded its compute units per second capacity"},
    ):
        assert isinstance(error_from_answer(url, "eth_call", err), RateLimitedError)
    with pytest.raises(BadAnswerError):
        error_from_answer(url, "eth_call", "boom")
    with pytest.raises(BadAnswerError):
        error_from_answer(url, "eth_call", {"message": "no code"})


def test_all_endpoints_failed_lists_each() -> None:
    exc = AllEndpointsFailedError(
        "eth_chainId", [("http://a:1", "refused"), ("http://b:2", "HTTP 502")]
    )
    assert isinstance(exc, RpcTransportError)
    assert (
        str(exc) == "eth_chainId: all 2 endpoints failed: http://a:1: refused; http://b:2: HTTP 502"
    )
