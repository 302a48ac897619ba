"""Metrics middleware: latency histogram and error counter per method and endpoint."""

from __future__ import annotations

import pytest
from aiohttp import web
from chain_servers import Serve, rpc_handler, tiny_node
from prometheus_client import CollectorRegistry

from tallyio.chain.client import compose
from tallyio.chain.errors import RpcTransportError
from tallyio.chain.middleware.metrics import RpcMetrics, metrics
from tallyio.chain.rpc import HttpTransport, RpcClient


async def test_latency_and_errors_by_method_and_endpoint(serve: Serve) -> None:
    good = await serve(rpc_handler(tiny_node))

    async def broken(request: web.Request) -> web.StreamResponse:
        return web.Response(status=500, text="no")

    bad = await serve(broken)
    registry = CollectorRegistry()
    m = RpcMetrics(registry)
    clients = []
    for url in (good.url, bad.url):
        transport = HttpTransport(url)
        clients.append(RpcClient(compose(transport, metrics(m, url)), [transport.close]))
    try:
        for _ in range(3):
            await clients[0].request("eth_blockNumber")
        await clients[0].batch([("eth_chainId", [])] * 4)
        with pytest.raises(RpcTransportError):
            await clients[1].request("eth_call", [{}, "latest"])
    finally:
        for c in clients:
            await c.close()

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    count = "tallyio_rpc_request_seconds_count"
    assert sample(count, method="eth_blockNumber", endpoint=good.url) == 3
    assert sample(count, method="batch", endpoint=good.url) == 1
    assert sample(count, method="eth_call", endpoint=bad.url) == 1
    assert (
        sample("tallyio_rpc_request_seconds_sum", method="eth_blockNumber", endpoint=good.url) or 0
    ) > 0
    errors = "tallyio_rpc_errors_total"
    assert sample(errors, method="eth_call", endpoint=bad.url, kind="RpcTransportError") == 1
    assert (
        sample(errors, method="eth_blockNumber", endpoint=good.url, kind="RpcTransportError")
        is None
    )


async def test_endpoint_label_is_redacted(serve: Serve) -> None:
    server = await serve(rpc_handler(tiny_node))
    url = server.url.replace("http://", "http://u:p4ssw0rd@") + "/?key=k3y"
    registry = CollectorRegistry()
    transport = HttpTransport(url)
    async with RpcClient(
        compose(transport, metrics(RpcMetrics(registry), url)), [transport.close]
    ) as c:
        assert await c.request("eth_blockNumber") == "0x10"
    labels = {s.labels.get("endpoint") for metric in registry.collect() for s in metric.samples}
    assert labels == {server.url.replace("http://", "http://***@") + "/?key=***"}
