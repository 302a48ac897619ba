"""`tallyio keystore new|import|list` in a subprocess: it works, and the private key appears in
no output, no file in the keystore directory and no log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from tallyio.execution.keystore import Keystore

pytestmark = pytest.mark.slow

KEY_HEX = "8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f"
ADDRESS = Account.from_key(bytes.fromhex(KEY_HEX)).address
PASSWORD = "not a real password"
RUN = "import sys; from tallyio.execution.keystore_cli import main; sys.exit(main(sys.argv[1:]))"


class Cli:
    """Runs the keystore CLI in a child process and keeps everything it printed."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.dir = home / "keystores"
        self.outputs: list[str] = []

    def run(self, *args: str, stdin: str = "", env: dict[str, str] | None = None,
            ok: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
        full_env = {**os.environ, "HOME": str(self.home), "PYTHONWARNINGS": "always",
                    **(env or {})}  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-c", RUN, "keystore", *args],
            input=stdin, capture_output=True, text=True, env=full_env, timeout=120,
        )  # fmt: skip
        self.outputs += [done.stdout, done.stderr]
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    def json(self, *args: str, **kwargs: Any) -> Any:
        return json.loads(self.run(*args, "--json", **kwargs).stdout)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "home")


def _assert_no_key(cli: Cli, extra_files: list[Path] = ()) -> None:  # type: ignore[assignment]
    haystacks = list(cli.outputs)
    for path in [*cli.home.rglob("*"), *extra_files]:
        if path.is_file():
            haystacks.append(path.read_bytes().decode("utf-8", "replace"))
    assert haystacks, "nothing was checked"
    for text in haystacks:
        lowered = text.lower()
        assert KEY_HEX not in lowered
        assert "0x" + KEY_HEX not in lowered


def test_import_from_key_file_new_and_list(cli: Cli, tmp_path: Path) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text("0x" + KEY_HEX + "\n")
    pw_file = tmp_path / "pw.txt"
    pw_file.write_text(PASSWORD + "\n")
    common = ["--dir", str(cli.dir), "--light-kdf"]

    imported = cli.json("import", "--key-file", str(key_file), "--password-file", str(pw_file),
                        *common)  # fmt: skip
    assert imported["address"] == ADDRESS and Path(imported["path"]).parent == cli.dir
    created = cli.json("new", "--password-env", "KS_PW", *common, env={"KS_PW": PASSWORD})
    assert created["address"] != ADDRESS

    listed = cli.json("list", "--dir", str(cli.dir))
    assert sorted(e["address"] for e in listed) == sorted([ADDRESS, created["address"]],
                                                          key=str.lower)  # fmt: skip
    human = cli.run("list", "--dir", str(cli.dir)).stdout
    assert ADDRESS in human and created["address"] in human

    store = Keystore(cli.dir)
    assert store.unlock(ADDRESS, PASSWORD).address == ADDRESS
    assert store.unlock(created["address"], PASSWORD).address == created["address"]
    _assert_no_key(cli)


def test_import_from_piped_prompt_into_default_dir(cli: Cli) -> None:
    # No --key-file and no password source: the key, then the password, come from stdin.
    done = cli.run("import", "--light-kdf", stdin=f"{KEY_HEX}\n{PASSWORD}\n")
    assert ADDRESS in done.stdout
    default = cli.home / ".tallyio" / "keystores"
    assert [e.address for e in Keystore(default).list()] == [ADDRESS]
    assert Keystore(default).unlock(ADDRESS, PASSWORD).address == ADDRESS
    _assert_no_key(cli)


def test_failures_do_not_leak_the_key(cli: Cli, tmp_path: Path) -> None:
    pw_file = tmp_path / "pw.txt"
    pw_file.write_text(PASSWORD)
    # A key on the command line is refused without echoing it.
    for argv in (["--key", KEY_HEX], ["--private-key=0x" + KEY_HEX], ["0x" + KEY_HEX]):
        refused = cli.run("import", *argv, "--dir", str(cli.dir), ok=False)
        assert refused.returncode == 1 and "never taken from the command line" in refused.stderr
    stray = cli.run("list", KEY_HEX, ok=False)  # argparse's own "unrecognized arguments"
    assert stray.returncode == 2 and "<redacted>" in stray.stderr
    # A malformed key file is refused without quoting it.
    bad_key = tmp_path / "bad.txt"
    bad_key.write_text(KEY_HEX[:-1] + "g")
    bad = cli.run("import", "--key-file", str(bad_key), "--password-file", str(pw_file),
                  "--dir", str(cli.dir), ok=False)  # fmt: skip
    assert bad.returncode == 1 and "not a private key" in bad.stderr
    # A duplicate import is a one-line error.
    good_key = tmp_path / "good.txt"
    good_key.write_text(KEY_HEX)
    args = ["import", "--key-file", str(good_key), "--password-file", str(pw_file),
            "--dir", str(cli.dir), "--light-kdf"]  # fmt: skip
    cli.run(*args)
    dup = cli.run(*args, ok=False)
    assert dup.returncode == 1 and "already" in dup.stderr
    empty = cli.json("list", "--dir", str(tmp_path / "nothing-here"))
    assert empty == []
    _assert_no_key(cli)
