"""`/ws/events`: the live feed (blocks, opportunities, decisions, trades) as JSON messages.

The guard has authenticated the handshake (key in `Authorization`, `X-API-Key` or `?key=`).
The first message is `{"type": "hello", ...}` with the caller's name and role and the
engine's status; then every event the control publishes, as it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from tallyio.api.control import EngineControl
from tallyio.api.guard import principal_of

router = APIRouter()


async def _forward(feed: AsyncIterator[dict[str, Any]], ws: WebSocket) -> None:
    async for event in feed:
        await ws.send_json(event)


@router.websocket("/ws/events")
async def events(ws: WebSocket) -> None:
    who = principal_of(ws)
    control: EngineControl = ws.app.state.control
    await ws.accept()
    await ws.send_json({"type": "hello", "data": {
        "name": who.name, "role": who.role.label, "status": control.status()}})  # fmt: skip
    feed = control.subscribe()
    sender = asyncio.create_task(_forward(feed, ws))
    try:
        while True:  # the client says nothing; we only wait for it to leave
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
    except WebSocketDisconnect:
        pass
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await sender
        aclose = getattr(feed, "aclose", None)
        if aclose is not None:
            await aclose()
