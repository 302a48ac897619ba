"""`tallyio api serve` (the API over a journal) and `tallyio api key` (make a key and its entry).

uvicorn's access log is off: a WebSocket URL may carry `?key=`, and keys are never logged.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from tallyio.api.auth import AuthConfigError, Role, key_entry, load_keys, new_key

HELP = "the HTTP API and dashboard (REST, WebSocket, GraphQL) over a journal"


class ApiCliError(RuntimeError):
    """A user-facing failure of `tallyio api`."""


def add_api_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser("api", help=HELP, description=HELP)
    sub = p.add_subparsers(dest="api_command", metavar="ACTION", required=True)
    serve = sub.add_parser("serve", help="serve the API (journal only: read-only)",
                           description="Serve the API and /dashboard over a journal. With no "
                           "engine attached it is read-only: writes answer 409.")  # fmt: skip
    serve.add_argument("--journal", required=True, help="SQLite path or postgresql:// URL")
    serve.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8700, help="port (default 8700)")
    serve.add_argument(
        "--keys", default=None, help="API key file (TOML; default $TALLYIO_API_KEYS)"
    )
    serve.add_argument("--chain", default="devnet", help="chain name for rows that carry none")
    serve.add_argument("--rpc", default=None, help="node RPC URL, to report its head and lag")
    serve.set_defaults(handler=run_serve)
    key = sub.add_parser("key", help="make a new API key; print it once, with its file entry",
                         description="Print a new random API key and the [[keys]] entry "
                         "(name, role, sha256) to append to the key file. The key itself "
                         "is stored nowhere: keep it.")  # fmt: skip
    key.add_argument("--name", required=True, help="who or what will use the key")
    key.add_argument("--role", required=True, choices=[r.label for r in Role])
    key.add_argument("--json", action="store_true", help="machine-readable output")
    key.set_defaults(handler=run_key)
    return p


def run_key(args: argparse.Namespace) -> int:
    role, key = Role.parse(args.role), new_key()
    entry = key_entry(args.name, role, key)
    if args.json:
        print(json.dumps({"name": args.name, "role": role.label, "key": key, "entry": entry}))
    else:
        print(f"key (shown once): {key}\n\nappend to your key file:\n\n{entry}")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from tallyio.api.app import create_app
    from tallyio.journal.store import open_journal

    try:
        keys = load_keys(args.keys)
    except AuthConfigError as exc:
        raise ApiCliError(str(exc)) from None
    journal = open_journal(args.journal)
    try:
        app = create_app(journal, keys, chain=args.chain, rpc_url=args.rpc)
        uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="info")
    finally:
        journal.close()
    return 0
