"""Real local receivers: an aiohttp server on 127.0.0.1 standing in for the Telegram, Slack,
PagerDuty and webhook endpoints (it records what arrived), and an aiosmtpd SMTP server."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller


@dataclass
class Received:
    path: str
    json: Any
    headers: dict[str, str]


@dataclass
class Receiver:
    base_url: str
    requests: list[Received] = field(default_factory=list)

    def at(self, prefix: str) -> list[Received]:
        return [r for r in self.requests if r.path.startswith(prefix)]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    box = Receiver("")

    async def record(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        box.requests.append(Received(request.path, body, dict(request.headers)))
        path = request.path
        if path.startswith("/fail"):  # echoes the path: a careless notifier would leak it
            return web.Response(status=500, text=f"cannot serve {path}")
        if path.endswith("/sendMessage"):
            return web.json_response({"ok": True, "result": {"message_id": len(box.requests)}})
        if path == "/v2/enqueue":
            return web.json_response({"status": "success", "dedup_key": body.get("dedup_key")},
                                     status=202)  # fmt: skip
        if path.startswith("/slack/"):
            return web.Response(text="ok")
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{tail:.*}", record)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    box.base_url = str(server.make_url("")).rstrip("/")
    try:
        yield box
    finally:
        await server.close()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.original_content or envelope.content)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"


@dataclass
class SmtpReceiver:
    host: str
    port: int
    inbox: _Inbox


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_receiver() -> Iterator[SmtpReceiver]:
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()  # a thread in this process; stop() joins it
    try:
        yield SmtpReceiver("127.0.0.1", controller.port, inbox)
    finally:
        controller.stop()
