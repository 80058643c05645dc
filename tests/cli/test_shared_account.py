"""A shared OS account names nobody (issue 12.10): with no name given, the terminal asks once (and a
script is refused, saying how to give one); the window asks at start."""

from __future__ import annotations

import getpass
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from console.cli_identity import who_acts
from console.core.inventory import InventoryError, parse_inventory


def _inventory(tmp_path: Path, shared: list[str]) -> Any:
    text = f'[policy]\nshared_accounts = {shared!r}\n[[node]]\nname = "n1"\nhost = "192.0.2.1"\n'.replace("'", '"')
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return parse_inventory(text, path)


def test_a_script_under_a_shared_account_is_refused_with_how_to_give_a_name(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, [getpass.getuser()])
    env = {k: v for k, v in os.environ.items() if k != "FLEET_CONSOLE_OPERATOR"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "console",
            "action",
            "resume",
            "n1",
            "--inventory",
            str(inventory.path),
            "--yes",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 3
    assert f"the OS account {getpass.getuser()!r} is shared" in done.stderr and "--operator" in done.stderr


def test_on_a_terminal_the_name_is_asked_once_and_a_given_name_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inventory = _inventory(tmp_path, [getpass.getuser()])
    monkeypatch.delenv("FLEET_CONSOLE_OPERATOR", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO("dana.k\n"))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    assert who_acts(None, inventory, "nothing was run", None) == "dana.k"
    assert who_acts("lee", inventory, "nothing was run", None) == "lee"  # --operator names someone: nothing asked
    private = _inventory(tmp_path, ["ops"] if getpass.getuser() != "ops" else ["root"])
    assert who_acts(None, private, "nothing was run", None) == getpass.getuser()  # one person's account


def test_shared_accounts_must_be_account_names(tmp_path: Path) -> None:
    assert _inventory(tmp_path, ["root", "ops"]).policy.shared_accounts == ("root", "ops")
    with pytest.raises(InventoryError, match="shared_accounts must be a list"):
        parse_inventory('[policy]\nshared_accounts = [1]\n[[node]]\nname = "n1"\nhost = "h"\n', tmp_path / "f.toml")
    assert parse_inventory('[[node]]\nname = "n1"\nhost = "h"\n', tmp_path / "f.toml").policy.shared_accounts == (
        "root",
    )


def test_without_a_display_the_window_asks_the_name_on_the_terminal_not_in_an_unseen_dialog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from console.cli_window import _window_operator
    from console.core.actions.roles import Role

    inventory = _inventory(tmp_path, [getpass.getuser()])
    monkeypatch.delenv("FLEET_CONSOLE_OPERATOR", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO("dana: night\ndana.k\n"))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    assert _window_operator(None, inventory, asking=True) == ("dana.k", None, None)
    said = capsys.readouterr().err
    assert "no display: the window will run on a virtual display that nobody sees" in said and "':'" in said
    # A script: nothing to ask; the window opens under the shared account and says how to give a name.
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    name, notice, role = _window_operator(None, inventory, asking=True)  # type: ignore[misc]
    assert name is None and role is None and notice is not None and "--operator" in notice
    assert "no display" in capsys.readouterr().err
    # --operator names the person: nothing is asked, the name is checked as every command's.
    assert _window_operator(None, inventory, asking=True, given="lee", role=Role.SUPERVISOR) == ("lee", None, None)
    assert _window_operator(None, inventory, asking=True, given="eve\x1b]0;x\x07") == 3


def test_the_no_display_check_reads_the_environment() -> None:
    from console.cli_identity import no_display

    assert no_display({}) and no_display({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"})
    assert not no_display({"DISPLAY": ":0"}) and not no_display({"WAYLAND_DISPLAY": "wayland-0"})
    assert no_display({"DISPLAY": ":99", "FLEET_CONSOLE_VIRTUAL_DISPLAY": "1"})  # ./dev demo under xvfb-run
    assert not no_display({"QT_QPA_PLATFORM": "offscreen", "FLEET_CONSOLE_VIRTUAL_DISPLAY": "0"})  # watched
