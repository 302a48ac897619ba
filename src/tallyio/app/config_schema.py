"""The machinery behind config.py: typed field checks, unknown-key detection and clear errors.

A section of a TOML file is described by a schema, a mapping of key -> `Field` (a check, and whether
the key is required). `parse_table` applies it: unknown keys are rejected with a "did you mean"
suggestion, missing required keys are named, and every value is checked and normalised (addresses
to EIP-55 checksum form, lists to tuples). Every error is a `ConfigError` naming the file and the
key path, e.g. ``config/chains/bsc.toml: dex[2].factory: '0x12' is not a valid address``.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from eth_utils import is_checksum_address, to_checksum_address


class ConfigError(ValueError):
    """A config file is wrong: which file, which key, and what is wrong with it."""

    def __init__(self, path: Path | str, key_path: str, message: str) -> None:
        super().__init__(path, key_path, message)
        self.path = Path(path)
        self.key_path = key_path
        self.message = message

    def __str__(self) -> str:
        where = f"{self.path}: {self.key_path}: " if self.key_path else f"{self.path}: "
        return where + self.message


@dataclass(frozen=True, slots=True)
class Loc:
    """Where a value sits: the file and the key path inside it (``dex[2].factory``)."""

    path: Path
    key: str = ""

    def child(self, name: str) -> Loc:
        return Loc(self.path, f"{self.key}.{name}" if self.key else name)

    def item(self, index: int) -> Loc:
        return Loc(self.path, f"{self.key}[{index}]")

    def error(self, message: str) -> ConfigError:
        return ConfigError(self.path, self.key, message)


Check = Callable[[Any, Loc], Any]


@dataclass(frozen=True, slots=True)
class Field:
    """One key of a section: how to check its value, and whether it must be present."""

    check: Check
    required: bool = True
    default: Any = None


def req(check: Check) -> Field:
    return Field(check)


def opt(check: Check, default: Any = None) -> Field:
    return Field(check, required=False, default=default)


Schema = Mapping[str, Field]


# ---------------------------------------------------------------------------------------- reading


_TOML_AT = re.compile(r"^(?P<msg>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; syntax errors carry tomllib's line and column."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(path, "", "file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(path, "", f"not UTF-8 text ({exc.reason})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_AT.match(str(exc))
        if match is None:
            raise ConfigError(path, "", f"invalid TOML: {exc}") from None
        where = f"line {match['line']}, column {match['col']}"
        raise ConfigError(path, where, f"invalid TOML: {match['msg']}") from None


# --------------------------------------------------------------------------------------- sections


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """`` (did you mean 'factory'?)`` for a near miss, else the valid choices."""
    choices = sorted(options)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (expected one of: {', '.join(choices)})" if choices else ""


def expect_table(raw: Any, loc: Loc) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise loc.error(f"expected a table, got {describe(raw)}")
    return raw


def parse_table(
    raw: Any, schema: Schema, loc: Loc, foreign: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Check a table against its schema; `foreign` explains keys valid only in other variants."""
    table = expect_table(raw, loc)
    for key in table:
        if key in schema:
            continue
        if foreign and key in foreign:
            raise loc.child(key).error(foreign[key])
        raise loc.child(key).error(f"unknown key{did_you_mean(key, schema)}")
    return {name: field_value(table, name, field, loc) for name, field in schema.items()}


def field_value(table: Mapping[str, Any], name: str, field: Field, loc: Loc) -> Any:
    if name in table:
        return field.check(table[name], loc.child(name))
    if field.required:
        raise loc.child(name).error("required key is missing")
    return field.default


def parse_kinded(
    raw: Any, loc: Loc, common: Schema, by_kind: Mapping[str, Schema]
) -> dict[str, Any]:
    """A table whose allowed keys depend on its `kind` (one schema per protocol family)."""
    table = expect_table(raw, loc)
    kind = field_value(table, "kind", req(choice(*by_kind)), loc)
    schema = {**common, **by_kind[kind]}
    owners: dict[str, list[str]] = {}
    for other, keys in by_kind.items():
        for key in keys:
            owners.setdefault(key, []).append(other)
    foreign = {
        key: f"does not apply to kind {kind!r} (only to {', '.join(map(repr, kinds))})"
        for key, kinds in owners.items()
        if key not in schema
    }
    return parse_table(table, schema, loc, foreign)


def table_list(parse: Callable[[Any, Loc], Any], unique: str | None = None) -> Check:
    """An array of tables (``[[dex]]``), each parsed by `parse`; `unique` names a unique key."""

    def check(raw: Any, loc: Loc) -> tuple[Any, ...]:
        if not isinstance(raw, list):
            raise loc.error(f"expected an array of tables, got {describe(raw)}")
        items = tuple(parse(value, loc.item(i)) for i, value in enumerate(raw))
        if unique is not None:
            _check_unique(items, unique, loc)
        return items

    return check


def _check_unique(items: tuple[Any, ...], key: str, loc: Loc) -> None:
    seen: dict[Any, int] = {}
    for i, item in enumerate(items):
        value = getattr(item, key)
        if value in seen:
            first = loc.item(seen[value]).child(key).key
            section = loc.key.rsplit(".", 1)[-1]
            raise (
                loc.item(i)
                .child(key)
                .error(f"duplicate {section} {key} {value!r} (also at {first})")
            )
        seen[value] = i


def table_of(parse: Callable[[Any, Loc], Any]) -> Check:
    """A table of named sub-tables (``[rpc.ethereum]``) -> {name: parsed}."""

    def check(raw: Any, loc: Loc) -> dict[str, Any]:
        table = expect_table(raw, loc)
        return {name: parse(value, loc.child(name)) for name, value in table.items()}

    return check


# ----------------------------------------------------------------------------------------- values


def describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"float {value}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def string(value: Any, loc: Loc) -> str:
    if not isinstance(value, str):
        raise loc.error(f"expected a string, got {describe(value)}")
    if not value.strip():
        raise loc.error("must not be empty")
    return value


_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


def identifier(value: Any, loc: Loc) -> str:
    """A name used in metrics and logs: lowercase letters, digits and underscores."""
    text = string(value, loc)
    if not _IDENTIFIER.match(text):
        raise loc.error(f"{text!r} must be lowercase letters, digits and underscores")
    return text


def boolean(value: Any, loc: Loc) -> bool:
    if not isinstance(value, bool):
        raise loc.error(f"expected true or false, got {describe(value)}")
    return value


def integer(value: Any, loc: Loc) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise loc.error(f"expected an integer, got {describe(value)}")
    return value


def positive_int(value: Any, loc: Loc) -> int:
    number = integer(value, loc)
    if number <= 0:
        raise loc.error(f"must be a positive integer, got {number}")
    return number


def bps(value: Any, loc: Loc) -> int:
    """A fee in basis points: 0 <= fee < 10000."""
    number = integer(value, loc)
    if not 0 <= number < 10_000:
        raise loc.error(f"must be basis points in [0, 10000), got {number}")
    return number


def positive_number(value: Any, loc: Loc) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise loc.error(f"expected a number, got {describe(value)}")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise loc.error(f"must be a positive number, got {value}")
    return number


def choice(*options: str) -> Check:
    def check(value: Any, loc: Loc) -> str:
        text = string(value, loc)
        if text not in options:
            raise loc.error(f"{text!r} is not a valid choice{did_you_mean(text, options)}")
        return text

    return check


def path_value(value: Any, loc: Loc) -> Path:
    return Path(string(value, loc))


_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HASH32 = re.compile(r"^0x[0-9a-fA-F]{64}$")


def address(value: Any, loc: Loc) -> str:
    """An EVM address, returned in EIP-55 checksum form.

    All-lowercase (or all-uppercase) hex carries no checksum and is converted; a mixed-case address
    must pass its checksum, since a wrong one means a typo somewhere.
    """
    text = string(value, loc)
    if not _ADDRESS.match(text):
        raise loc.error(f"{text!r} is not a valid address (0x and 40 hex digits)")
    if int(text, 16) == 0:
        raise loc.error("the zero address is not a contract")
    digits = text[2:]
    if digits == digits.lower() or digits == digits.upper():
        return str(to_checksum_address(text))
    if not is_checksum_address(text):
        raise loc.error(
            f"{text!r} fails its EIP-55 checksum: a typo? "
            "(mixed-case addresses must be checksummed)"
        )
    return text


def hash32(value: Any, loc: Loc) -> str:
    """A 32-byte hash (an init code hash), returned lowercase."""
    text = string(value, loc)
    if not _HASH32.match(text):
        raise loc.error(f"{text!r} is not a 32-byte hash (0x and 64 hex digits)")
    return text.lower()


_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(text: str, loc: Loc) -> str:
    """Replace ``${NAME}`` with the environment variable, so node API keys stay out of files."""

    def sub(match: re.Match[str]) -> str:
        name = match[1]
        if name not in os.environ:
            raise loc.error(f"environment variable {name} is not set")
        return os.environ[name]

    return _ENV_VAR.sub(sub, text)


def url(*schemes: str) -> Check:
    def check(value: Any, loc: Loc) -> str:
        text = expand_env(string(value, loc), loc)
        parts = urlsplit(text)
        if parts.scheme not in schemes or not parts.netloc:
            starts = ", ".join(f"{s}://" for s in schemes)
            raise loc.error(f"{_redact(text)!r} is not a URL starting with one of {starts}")
        return text

    return check


def _redact(text: str) -> str:
    """Keep secrets (API keys in paths, passwords) out of error messages."""
    parts = urlsplit(text)
    if parts.scheme and parts.netloc:
        return f"{parts.scheme}://{parts.hostname or ''}/..."
    return text if len(text) <= 24 else text[:24] + "..."


def list_of(check: Check) -> Check:
    def check_list(value: Any, loc: Loc) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise loc.error(f"expected an array, got {describe(value)}")
        return tuple(check(item, loc.item(i)) for i, item in enumerate(value))

    return check_list
