"""A liaison's console refuses every action before anything is written or sent; a technician's does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core.actions.planning import ActionKind, ActionRefused, ActionRequest
from console.core.actions.roles import Permission, Role, refusal
from console.core.inventory import parse_inventory
from console.services.actions import ActionService
from console.transport.ssh import SshSettings

INVENTORY = '[[node]]\nname = "gpu-001"\nhost = "10.0.0.1"\n'


def test_a_liaison_console_refuses_actions_and_records_nothing(tmp_path: Path) -> None:
    inventory = parse_inventory(INVENTORY, tmp_path / "fleet.toml")
    service = ActionService(
        inventory, tmp_path / "data", SshSettings(ssh_config=None), role=Role.LIAISON, operator="lia"
    )
    try:
        plan = service.plan(ActionRequest(operator="lia", kind=ActionKind.LOCATE, nodes=("gpu-001",), led="on"))
        with pytest.raises(ActionRefused, match="the liaison role may not act on nodes") as refused:
            service.runner.submit(plan)
        # The runner says what the command line and the window say: one set of words (roles.refusal).
        assert refusal(Role.LIAISON, Permission.ACT) in str(refused.value)
        assert service.runner.refusal == "the liaison role may not act on nodes (allowed: technician, supervisor)"
        assert service.store.rows() == []
    finally:
        service.close()


def test_a_technician_console_has_no_refusal(tmp_path: Path) -> None:
    inventory = parse_inventory(INVENTORY, tmp_path / "fleet.toml")
    service = ActionService(inventory, tmp_path / "data", SshSettings(ssh_config=None), operator="tina")
    try:
        assert service.runner.refusal is None and service.role == Role.TECHNICIAN
    finally:
        service.close()


def test_actions_earlier_consoles_left_unfinished_are_listed_for_the_panel(tmp_path: Path) -> None:
    from console.core.actions.runs import ActionState

    inventory = parse_inventory(INVENTORY, tmp_path / "fleet.toml")
    first = ActionService(inventory, tmp_path / "data", SshSettings(ssh_config=None), operator="tina")
    try:
        reboot = ["scontrol", "reboot", "ASAP", "nextstate=RESUME", "reason=tina: ECC storm", "gpu-001"]
        pending = _finished(
            first, "reboot", [reboot], "stopped watching", "the console closed; the reboot is still pending in Slurm"
        )
        _finished(first, "drain", [], "done", "drained")
    finally:
        first.close()
    second = ActionService(inventory, tmp_path / "data", SshSettings(ssh_config=None), operator="tina")
    try:
        (earlier,) = second.earlier_unfinished()
        assert earlier.id == pending and earlier.state == ActionState.UNWATCHED
        assert earlier.message == "earlier console: the console closed; the reboot is still pending in Slurm"
        assert earlier.commands[0].startswith("scontrol reboot ASAP")
    finally:
        second.close()


def _finished(service: ActionService, kind: str, command: list[object], state: str, message: str) -> int:
    """An action of ``service``'s console, recorded with its outcome."""
    action_id = service.store.record_intent(
        operator="tina",
        kind=kind,
        node="gpu-001",
        params={},
        reason="ECC storm",
        ticket=None,
        engine="slurm",
        host="ctl",
        command=command,
        session=service.runner.session,
    )
    service.store.record_outcome(action_id, state=state, message=message)
    return action_id


def test_the_command_line_refuses_a_liaisons_action_in_the_same_words(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "fleet.toml").write_text(INVENTORY)
    done = subprocess.run(
        [sys.executable, "-m", "console", "action", "locate", "gpu-001", "--led", "on", "--role", "liaison",
         "--inventory", str(tmp_path / "fleet.toml"), "--data-dir", str(tmp_path / "data"), "--yes"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 3
    assert refusal(Role.LIAISON, Permission.ACT) in done.stderr
