"""Encrypted key files (Web3 Secret Storage v3, scrypt) in one directory, and their passwords.

Files are named like geth's (`UTC--<time>--<address>`), written 0600 in a 0700 directory
(default ~/.tallyio/keystores, or $TALLYIO_KEYSTORE_DIR). A key is only ever held as a
`SecretKey` (redacted repr) and used through a `Signer`; no message, exception or log line
carries key material, and a wrong password is a plain `KeystoreError`.

Passwords come from a file (first line), an environment variable, or a prompt.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import is_hex_address, to_checksum_address

from tallyio.execution.signer import SecretKey, Signer

__all__ = [
    "Keystore",
    "KeystoreEntry",
    "KeystoreError",
    "SecretKey",
    "Signer",
    "default_dir",
    "read_password",
    "read_secret_line",
]

SCRYPT_N = 2**18  # the standard cost (geth, eth-account): ~1 s and 256 MiB per unlock
LIGHT_SCRYPT_N = 2**12  # geth's --lightkdf: for tests and throwaway keys
DIR_ENV = "TALLYIO_KEYSTORE_DIR"


class KeystoreError(RuntimeError):
    """A key file cannot be created, found or unlocked; the message never holds key material."""


def default_dir() -> Path:
    return Path(os.environ.get(DIR_ENV) or Path.home() / ".tallyio" / "keystores")


@dataclass(frozen=True, slots=True)
class KeystoreEntry:
    address: str  # EIP-55 checksum
    path: Path


class Keystore:
    """The key files in `directory`."""

    def __init__(self, directory: Path | str | None = None, *, scrypt_n: int = SCRYPT_N) -> None:
        self.directory = Path(directory) if directory is not None else default_dir()
        self.scrypt_n = scrypt_n

    def __repr__(self) -> str:
        return f"Keystore({str(self.directory)!r})"

    def create(self, password: str) -> str:
        """A new random key, encrypted under `password`; returns its address."""
        return self.import_key(SecretKey.generate(), password)

    def import_key(self, private_key: SecretKey | bytes | str, password: str) -> str:
        """Encrypt an existing key (SecretKey, 32 bytes or hex) into a new file; its address."""
        key = _as_secret(private_key)
        if not password:
            raise KeystoreError("refusing an empty password")
        from eth_keyfile import create_keyfile_json  # slow to import (py_ecc): only when needed

        address = Signer(key).address
        if any(e.address == address for e in self.list()):
            raise KeystoreError(f"{address} is already in {self.directory}")
        document = create_keyfile_json(
            key.reveal(), password.encode(), kdf="scrypt", iterations=self.scrypt_n
        )
        document["address"] = address[2:].lower()
        self._write(address, document)
        return address

    def list(self) -> list[KeystoreEntry]:
        """Every key file in the directory (read, not decrypted), by address."""
        if not self.directory.is_dir():
            return []
        entries = []
        for path in sorted(self.directory.iterdir()):
            address = _file_address(path)
            if address is not None:
                entries.append(KeystoreEntry(address, path))
        return sorted(entries, key=lambda e: e.address.lower())

    def find(self, address_or_path: str | Path) -> Path:
        """The key file of an address in this directory, or the path itself."""
        text = str(address_or_path)
        if is_hex_address(text):
            wanted = to_checksum_address(text)
            for entry in self.list():
                if entry.address == wanted:
                    return entry.path
            raise KeystoreError(f"no key file for {wanted} in {self.directory}")
        path = Path(text).expanduser()
        if not path.is_file():
            raise KeystoreError(f"no key file at {path}")
        return path

    def unlock(self, address_or_path: str | Path, password: str) -> Signer:
        """Decrypt a key file (by address in this directory, or by path) into a Signer."""
        path = self.find(address_or_path)
        document = _read_json(path)
        from eth_keyfile import decode_keyfile_json  # slow to import (py_ecc): only when needed

        try:
            key = SecretKey(decode_keyfile_json(document, password.encode()))
        except Exception as exc:  # eth-keyfile's errors quote no key material; drop them anyway
            reason = "wrong password" if "MAC mismatch" in str(exc) else type(exc).__name__
            raise KeystoreError(f"cannot unlock {path.name}: {reason}") from None
        return Signer(key)

    def _write(self, address: str, document: dict[str, Any]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime())
        nanos = time.time_ns() % 1_000_000_000
        path = self.directory / f"UTC--{stamp}.{nanos:09d}Z--{address[2:].lower()}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(document, out)
        return path


def _as_secret(private_key: SecretKey | bytes | str) -> SecretKey:
    try:
        if isinstance(private_key, SecretKey):
            return private_key
        if isinstance(private_key, str):
            return SecretKey.from_hex(private_key)
        return SecretKey(private_key)
    except ValueError as exc:
        raise KeystoreError(f"not a private key: {exc}") from None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KeystoreError(f"cannot read key file {path}: {type(exc).__name__}") from None
    if not isinstance(document, dict) or ("crypto" not in document and "Crypto" not in document):
        raise KeystoreError(f"{path} is not a Web3 Secret Storage key file")
    return document


def _file_address(path: Path) -> str | None:
    if not path.is_file() or path.name.startswith("."):
        return None
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    address = document.get("address") if isinstance(document, dict) else None
    if not isinstance(address, str) or not is_hex_address(address):
        return None
    return to_checksum_address(address)


# -- passwords and secrets from the user ---------------------------------------------------------


def read_secret_line(prompt: str) -> str:
    """One line typed at a terminal without echo, or the first line of piped stdin."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().rstrip("\r\n")


def read_password(
    *, file: str | Path | None = None, env: str | None = None, confirm: bool = False
) -> str:
    """The password from `file` (its first line), the environment variable `env`, or a prompt
    (twice when `confirm`). An empty password is refused."""
    if file is not None:
        try:
            lines = Path(file).expanduser().read_text().splitlines()
        except OSError as exc:
            raise KeystoreError(f"cannot read password file {file}: {exc.strerror}") from None
        password = lines[0] if lines else ""
    elif env is not None:
        if env not in os.environ:
            raise KeystoreError(f"environment variable {env} is not set")
        password = os.environ[env]
    else:
        password = read_secret_line("Password: ")
        if confirm and sys.stdin.isatty() and read_secret_line("Repeat password: ") != password:
            raise KeystoreError("the passwords do not match")
    if not password:
        raise KeystoreError("empty password")
    return password
