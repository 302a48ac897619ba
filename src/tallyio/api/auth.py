"""Who is asking: API keys (kept only as sha256 hashes) and HS256 JWTs, each with a role.

Roles are ordered viewer < operator < admin. A key file is TOML, named by `--keys` or the
`TALLYIO_API_KEYS` environment variable:

    jwt_secret_env = "TALLYIO_JWT_SECRET"   # optional: accept JWTs signed with this secret
    [[keys]]
    name = "grafana"
    role = "viewer"
    sha256 = "9f86d081..."                  # hex sha256 of the key; the key itself is never stored

A key or token is never logged and never echoed in an error: failures say only what was wrong.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

import jwt

KEYS_ENV = "TALLYIO_API_KEYS"
JWT_ALGORITHM = "HS256"
KEY_PREFIX = "tio_"  # so a leaked key is recognisable (and greppable) as ours
_MIN_SECRET_BYTES = 32


class Role(IntEnum):
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise AuthConfigError(
                f"unknown role {name!r} (roles: viewer, operator, admin)"
            ) from None

    @property
    def label(self) -> str:
        return self.name.lower()


class AuthConfigError(ValueError):
    """The key file is unusable (bad TOML, unknown role, short secret)."""


class AuthError(Exception):
    """A credential was missing or not valid (HTTP 401); the message never contains it."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    role: Role
    sha256: str  # lowercase hex digest of the key


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    name: str
    role: Role
    via: str  # "key" | "jwt"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Every accepted API key (hashed) and, optionally, the JWT secret."""

    keys: tuple[ApiKey, ...] = ()
    jwt_secret: bytes | None = None

    def __repr__(self) -> str:  # never show the secret, even in a traceback
        return f"KeyRing({len(self.keys)} keys, jwt={'on' if self.jwt_secret else 'off'})"

    def authenticate(self, credential: str) -> Principal:
        if not credential:
            raise AuthError("no credential")
        if credential.count(".") == 2 and not credential.startswith(KEY_PREFIX):
            return self._from_jwt(credential)
        digest = hash_key(credential)
        for key in self.keys:
            if hmac.compare_digest(digest, key.sha256):
                return Principal(key.name, key.role, "key")
        raise AuthError("unknown API key")

    def _from_jwt(self, token: str) -> Principal:
        if self.jwt_secret is None:
            raise AuthError("JWTs are not accepted here")
        try:
            claims = jwt.decode(token, self.jwt_secret, algorithms=[JWT_ALGORITHM],
                                options={"require": ["sub", "role", "exp"]})  # fmt: skip
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.InvalidTokenError:
            raise AuthError("invalid token") from None
        try:
            role = Role.parse(str(claims["role"]))
        except AuthConfigError:
            raise AuthError("invalid token role") from None
        return Principal(str(claims["sub"]), role, "jwt")

    def issue_token(self, sub: str, role: Role, ttl_seconds: int = 3600) -> str:
        """A JWT for `sub` with `role`, valid for `ttl_seconds`."""
        if self.jwt_secret is None:
            raise AuthConfigError("no JWT secret configured")
        claims = {"sub": sub, "role": role.label, "exp": int(time.time()) + ttl_seconds}
        return jwt.encode(claims, self.jwt_secret, algorithm=JWT_ALGORITHM)


def _secret(raw: Mapping[str, Any], env: Mapping[str, str]) -> bytes | None:
    name = raw.get("jwt_secret_env")
    if name is None:
        return None
    value = env.get(str(name), "")
    if len(value.encode()) < _MIN_SECRET_BYTES:
        raise AuthConfigError(
            f"${name} must hold a JWT secret of at least {_MIN_SECRET_BYTES} bytes"
        )
    return value.encode()


def _key(entry: Mapping[str, Any], where: str) -> ApiKey:
    try:
        name, role, digest = str(entry["name"]), str(entry["role"]), str(entry["sha256"])
    except KeyError as exc:
        raise AuthConfigError(f"{where}: a key needs name, role and sha256 (no {exc})") from None
    digest = digest.lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise AuthConfigError(f"{where}: key {name!r}: sha256 must be 64 hex digits")
    return ApiKey(name, Role.parse(role), digest)


def load_keys(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> KeyRing:
    """The key ring from `path`, else from the file named by $TALLYIO_API_KEYS."""
    env = os.environ if env is None else env
    source = path or env.get(KEYS_ENV)
    if not source:
        raise AuthConfigError(f"no API keys: pass --keys FILE or set ${KEYS_ENV}")
    try:
        raw = tomllib.loads(Path(source).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AuthConfigError(f"cannot read API keys from {source}: {exc}") from None
    keys = tuple(_key(entry, str(source)) for entry in raw.get("keys", []))
    ring = KeyRing(keys, _secret(raw, env))
    if not ring.keys and ring.jwt_secret is None:
        raise AuthConfigError(f"{source}: no keys and no JWT secret: nobody could log in")
    return ring


def key_entry(name: str, role: Role, key: str) -> str:
    """The TOML entry that admits `key` (its hash only)."""
    return f'[[keys]]\nname = "{name}"\nrole = "{role.label}"\nsha256 = "{hash_key(key)}"\n'
