"""Encrypted key files: create, import, list, unlock; passwords; no key material anywhere."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest
from eth_account import Account

from tallyio.execution.keystore import (
    LIGHT_SCRYPT_N,
    Keystore,
    KeystoreError,
    SecretKey,
    default_dir,
    read_password,
)

KEY_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
ADDRESS = Account.from_key(bytes.fromhex(KEY_HEX)).address


@pytest.fixture
def store(tmp_path: Path) -> Keystore:
    return Keystore(tmp_path / "keys", scrypt_n=LIGHT_SCRYPT_N)


def _no_key_in(text: str) -> None:
    lowered = text.lower()
    assert KEY_HEX not in lowered and "0x" + KEY_HEX not in lowered


def test_import_then_unlock(store: Keystore) -> None:
    assert store.import_key(KEY_HEX, "correct horse") == ADDRESS
    signer = store.unlock(ADDRESS, "correct horse")
    assert signer.address == ADDRESS
    assert store.unlock(ADDRESS.lower(), "correct horse").address == ADDRESS  # any case
    path = store.find(ADDRESS)
    assert store.unlock(path, "correct horse").address == ADDRESS  # by path too


def test_files_are_v3_scrypt_private_and_readable_by_eth_account(store: Keystore) -> None:
    store.import_key("0x" + KEY_HEX, "pw")
    (entry,) = store.list()
    document = json.loads(entry.path.read_text())
    assert document["version"] == 3 and document["crypto"]["kdf"] == "scrypt"
    assert document["address"] == ADDRESS[2:].lower()
    assert entry.path.name.startswith("UTC--") and entry.path.name.endswith(ADDRESS[2:].lower())
    assert stat.S_IMODE(entry.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    assert Account.decrypt(document, "pw") == bytes.fromhex(KEY_HEX)
    _no_key_in(entry.path.read_text())


def test_unlocks_files_made_by_eth_account(store: Keystore) -> None:
    store.directory.mkdir(parents=True)
    document = Account.encrypt(
        bytes.fromhex(KEY_HEX), "theirs", kdf="scrypt", iterations=LIGHT_SCRYPT_N
    )
    (store.directory / "from-eth-account.json").write_text(json.dumps(document))
    assert [e.address for e in store.list()] == [ADDRESS]
    assert store.unlock(ADDRESS, "theirs").address == ADDRESS


def test_create_makes_distinct_keys(store: Keystore) -> None:
    first, second = store.create("pw1"), store.create("pw2")
    assert first != second
    assert sorted(e.address for e in store.list()) == sorted([first, second], key=str.lower)
    assert store.unlock(first, "pw1").address == first


def test_wrong_password_is_a_clear_error(store: Keystore, caplog: pytest.LogCaptureFixture) -> None:
    store.import_key(KEY_HEX, "right")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(KeystoreError, match="wrong password") as info:
        store.unlock(ADDRESS, "wrong")
    assert info.value.__cause__ is None and info.value.__suppress_context__
    _no_key_in(str(info.value) + repr(info.value) + caplog.text)


def test_errors(store: Keystore, tmp_path: Path) -> None:
    assert store.list() == []  # no directory yet: nothing, not an error
    with pytest.raises(KeystoreError, match="no key file for"):
        store.unlock(ADDRESS, "pw")
    with pytest.raises(KeystoreError, match="no key file at"):
        store.unlock(tmp_path / "nope.json", "pw")
    with pytest.raises(KeystoreError, match="empty password"):
        store.import_key(KEY_HEX, "")
    store.import_key(KEY_HEX, "pw")
    with pytest.raises(KeystoreError, match="already"):
        store.import_key(KEY_HEX, "pw")
    with pytest.raises(KeystoreError, match="not a private key") as info:
        store.import_key(KEY_HEX[:-2] + "zz", "pw")
    _no_key_in(str(info.value))
    junk = store.directory / "junk.json"
    junk.write_text("{not json")
    assert [e.address for e in store.list()] == [ADDRESS]  # junk is skipped
    with pytest.raises(KeystoreError, match="cannot read"):
        store.unlock(junk, "pw")


def test_reprs_hide_the_key(store: Keystore) -> None:
    store.import_key(SecretKey.from_hex(KEY_HEX), "pw")
    signer = store.unlock(ADDRESS, "pw")
    for shown in (repr(signer), str(signer), repr(store), repr(store.list()), repr(vars(store))):
        _no_key_in(shown)
    assert ADDRESS in repr(signer)


def test_default_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TALLYIO_KEYSTORE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_dir() == tmp_path / ".tallyio" / "keystores"
    monkeypatch.setenv("TALLYIO_KEYSTORE_DIR", str(tmp_path / "elsewhere"))
    assert Keystore().directory == tmp_path / "elsewhere"


def test_password_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    file = tmp_path / "pw.txt"
    file.write_text("first line\nsecond line\n")
    assert read_password(file=file) == "first line"
    monkeypatch.setenv("TALLYIO_TEST_PW", "from env")
    assert read_password(env="TALLYIO_TEST_PW") == "from env"
    with pytest.raises(KeystoreError, match="not set"):
        read_password(env="TALLYIO_TEST_PW_MISSING")
    with pytest.raises(KeystoreError, match="cannot read"):
        read_password(file=tmp_path / "missing")
    (tmp_path / "empty").write_text("")
    with pytest.raises(KeystoreError, match="empty"):
        read_password(file=tmp_path / "empty")


def test_password_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["typed", "typed", "typed", "typed", "different"])
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert read_password() == "typed"
    assert read_password(confirm=True) == "typed"
    with pytest.raises(KeystoreError, match="do not match"):
        read_password(confirm=True)
