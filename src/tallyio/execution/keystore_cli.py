"""`tallyio keystore new|import|list`: manage encrypted key files from the command line.

A private key is never taken from argv (it would sit in the shell history and in `ps`):
`import` reads it from `--key-file` or a prompt (piped stdin works too). Passwords come from
`--password-file`, `--password-env NAME` or a prompt. Output names addresses and paths only.

`add_keystore_parser(subparsers)` plugs the commands into the main `tallyio` parser (handler:
`handle`); `main(argv)` runs them on their own.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from tallyio.execution.keystore import (
    LIGHT_SCRYPT_N,
    SCRYPT_N,
    Keystore,
    KeystoreError,
    SecretKey,
    default_dir,
    read_password,
    read_secret_line,
)

_KEY_LIKE = re.compile(r"(0x)?[0-9a-fA-F]{64}")


def redact_keys(text: str) -> str:
    """`text` with every run of 64 hex digits (a private key's shape) blanked out."""
    return _KEY_LIKE.sub("<redacted>", text)


def add_keystore_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `keystore` with its actions to an argparse subparsers object; returns it."""
    keystore = subparsers.add_parser(
        "keystore", help="encrypted key files (create, import, list)", allow_abbrev=False
    )
    actions = keystore.add_subparsers(dest="keystore_command", metavar="ACTION", required=True)
    new = actions.add_parser("new", help="create a new random key, encrypted", allow_abbrev=False)
    imp = actions.add_parser(
        "import", allow_abbrev=False,
        help="encrypt an existing private key (from --key-file or a prompt, never argv)",
    )  # fmt: skip
    imp.add_argument("--key-file", default=None, help="file holding the hex private key")
    # A key typed on the command line is caught here, so that no parser ever echoes it.
    imp.add_argument("--key", "--private-key", dest="key_on_argv", help=argparse.SUPPRESS)
    imp.add_argument("stray", nargs="*", help=argparse.SUPPRESS)
    lst = actions.add_parser("list", help="list the addresses of the key files", allow_abbrev=False)
    for p in (new, imp):
        source = p.add_mutually_exclusive_group()
        source.add_argument("--password-file", default=None, help="first line is the password")
        source.add_argument("--password-env", default=None, metavar="NAME",
                            help="environment variable holding the password")  # fmt: skip
        weaker = f"scrypt n={LIGHT_SCRYPT_N} instead of {SCRYPT_N} (fast, weaker)"
        p.add_argument("--light-kdf", action="store_true", help=weaker)
    for p in (new, imp, lst):
        p.add_argument("--dir", default=None, help=f"key file directory (default {default_dir()})")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(handler=handle)
    return keystore


def handle(args: argparse.Namespace) -> int:
    """Run one `keystore` action; a KeystoreError is one line on stderr and exit code 1."""
    try:
        result = _ACTIONS[args.keystore_command](args)
    except KeystoreError as exc:
        print(f"tallyio: error: {redact_keys(str(exc))}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
    else:
        _print_human(args.keystore_command, result)
    return 0


def _keystore(args: argparse.Namespace) -> Keystore:
    scrypt_n = LIGHT_SCRYPT_N if getattr(args, "light_kdf", False) else SCRYPT_N
    return Keystore(Path(args.dir) if args.dir else None, scrypt_n=scrypt_n)


def _password(args: argparse.Namespace) -> str:
    return read_password(file=args.password_file, env=args.password_env, confirm=True)


def _new(args: argparse.Namespace) -> dict[str, Any]:
    store = _keystore(args)
    address = store.create(_password(args))
    return {"address": address, "path": str(store.find(address))}


def _import(args: argparse.Namespace) -> dict[str, Any]:
    if args.key_on_argv is not None or args.stray:
        raise KeystoreError(
            "a private key is never taken from the command line (shell history, ps): "
            "use --key-file FILE or type it at the prompt"
        )
    store = _keystore(args)
    key = _read_key(args.key_file)
    address = store.import_key(key, _password(args))
    return {"address": address, "path": str(store.find(address))}


def _read_key(key_file: str | None) -> SecretKey:
    if key_file is None:
        text = read_secret_line("Private key (hex): ")
    else:
        try:
            text = Path(key_file).expanduser().read_text()
        except OSError as exc:
            raise KeystoreError(f"cannot read key file {key_file}: {exc.strerror}") from None
    try:
        return SecretKey.from_hex(text)
    except ValueError as exc:
        raise KeystoreError(f"not a private key: {exc}") from None


def _list(args: argparse.Namespace) -> list[dict[str, str]]:
    return [{"address": e.address, "path": str(e.path)} for e in _keystore(args).list()]


_ACTIONS = {"new": _new, "import": _import, "list": _list}


def _print_human(action: str, result: Any) -> None:
    if action == "list":
        if not result:
            print("no key files")
        for entry in result:
            print(f"{entry['address']}  {entry['path']}")
    else:
        print(f"address: {result['address']}\nkey file: {result['path']}")


class RedactingArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors blank out anything shaped like a private key:
    `tallyio keystore import 0x<key>` must not echo the key in "unrecognized arguments"."""

    def error(self, message: str) -> NoReturn:
        super().error(redact_keys(message))


def main(argv: Sequence[str] | None = None) -> int:
    """`tallyio keystore ...` on its own: main(["keystore", "list", "--json"])."""
    parser = RedactingArgumentParser(prog="tallyio")
    add_keystore_parser(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    return handle(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
