"""What `tallyio run` runs beside the engine: the API and dashboard, and the alerts.

    run_session(..., beside=beside_engine(keys=..., api_port=8700, alerts=router))

Both hook into the engine as listeners once it is built, and are stopped (the server shut, the
alerts still being sent awaited) before the engine closes its journal. Node-lag alerts need
the API's head watcher, so they come only with `--api-port`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from tallyio.alerts import AlertRouter
from tallyio.api.auth import KeyRing
from tallyio.app.alerting import EngineAlerts
from tallyio.app.api_server import ApiServer, serve_api
from tallyio.app.runner import Running
from tallyio.app.session import Beside
from tallyio.risk.gate import RiskGate


def beside_engine(
    *, keys: KeyRing | None = None, api_port: int | None = None, live: bool = False,
    alerts: AlertRouter | None = None, serving: Callable[[ApiServer], Any] | None = None,
) -> Beside | None:  # fmt: skip
    """None when there is nothing to run beside the engine; `serving` hears where the API is."""
    if api_port is None and alerts is None:
        return None
    if api_port is not None and keys is None:
        raise ValueError("serving the API needs API keys")

    @contextlib.asynccontextmanager
    async def run(running: Running) -> AsyncIterator[None]:
        gate = running.engine.gate if isinstance(running.engine.gate, RiskGate) else None
        hooked = EngineAlerts(alerts, gate) if alerts is not None else None
        if hooked is not None:
            running.engine.listeners.append(hooked)
        try:
            async with contextlib.AsyncExitStack() as stack:
                if api_port is not None and keys is not None:
                    server = await stack.enter_async_context(
                        serve_api(running, keys, port=api_port, live=live)
                    )
                    if hooked is not None:
                        server.control.lag_listeners.append(hooked.node_lag)
                    if serving is not None:
                        serving(server)
                yield
        finally:
            if hooked is not None:
                running.engine.listeners.remove(hooked)
                await hooked.close()

    return run
