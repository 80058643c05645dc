"""Planning an action with fake ports (no Slurm, no BMC, no SSH): the blast radius, the reason rules, the
exact steps per engine, the preview's warnings and refusals. The same plans run against real engines in
tests/engines; these pin the logic fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core.actions.planning import (
    ActionKind,
    ActionRefused,
    ActionRequest,
    Engine,
    HttpCall,
    availability,
    blast_radius,
    check_reason,
    plan_action,
)
from console.core.inventory import Inventory, NodeSpec, parse_inventory
from console.core.parsers.slurm import Job, Partition
from tests.helpers.fakes import FakeSlurm

SCHEDULER = '[scheduler]\nkind = "slurm"\nhost = "10.0.0.100"\nuser = "ops"\n'
BMC = 'bmc = { url = "https://10.1.0.1", user = "admin", password_env = "BMC_PW" }\n'


def _inventory(nodes: int = 20, scheduler: bool = True, policy: str = "") -> Inventory:
    text = (SCHEDULER if scheduler else "") + policy
    for i in range(1, nodes + 1):
        text += f'[[node]]\nname = "gpu-{i:03d}"\nhost = "10.0.0.{i}"\ntenant = "acme"\n{BMC}'
    return parse_inventory(text, Path("fleet.toml"))


BATCH = {"batch": Partition("batch", "gpu-[001-020]", tuple(f"gpu-{i:03d}" for i in range(1, 21)), "UP", True)}


class FakeBmc:
    url = "https://10.1.0.1"
    tls_note = None

    def power_state(self) -> str:
        return "On"

    def allowed_resets(self) -> tuple[str, ...]:
        return ("On", "ForceOff", "ForceRestart", "PowerCycle")

    def led_state(self) -> str:
        return "Off"

    def reset_call(self, reset_type: str) -> HttpCall:
        return HttpCall(
            "POST", f"{self.url}/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", {"ResetType": reset_type}
        )

    def led_call(self, state: str) -> HttpCall:
        return HttpCall("PATCH", f"{self.url}/redfish/v1/Systems/1", {"IndicatorLED": state})


class FakeEngines:
    def __init__(self, slurm: FakeSlurm | None = None) -> None:
        self.slurm = slurm

    def scheduler(self) -> FakeSlurm | None:
        return self.slurm

    def bmc(self, node: NodeSpec) -> FakeBmc | None:
        return FakeBmc() if node.bmc is not None else None

    def ssh_host(self, node: NodeSpec) -> str:
        return f"root@{node.host}"


def _request(kind: ActionKind, *nodes: str, **values: object) -> ActionRequest:
    return ActionRequest(kind=kind, nodes=nodes, operator="dana", **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(("fleet", "cap"), [(1, 1), (20, 2), (80, 8), (1000, 8)])
def test_the_blast_radius_is_the_smaller_of_the_count_and_the_share_and_at_least_one(fleet: int, cap: int) -> None:
    assert blast_radius(fleet) == cap


def test_more_nodes_than_the_blast_radius_are_refused() -> None:
    plan = plan_action(
        _request(ActionKind.RESUME, "gpu-001", "gpu-002", "gpu-003"),
        _inventory(),
        FakeEngines(FakeSlurm(partitions=BATCH)),
    )
    assert not plan.allowed and any("the limit per confirmation is 2" in r for r in plan.refusals)


def test_drain_reboot_and_power_need_a_reason_in_one_line() -> None:
    assert check_reason(_request(ActionKind.DRAIN, "gpu-001"))
    assert check_reason(_request(ActionKind.DRAIN, "gpu-001", reason="hot\\nrm -rf")) == []  # a backslash is text
    assert check_reason(_request(ActionKind.DRAIN, "gpu-001", reason="line\nbreak"))
    assert check_reason(_request(ActionKind.RESUME, "gpu-001")) == []


def test_a_drain_is_one_scontrol_update_with_the_operator_and_ticket_in_slurms_reason() -> None:
    request = _request(ActionKind.DRAIN, "gpu-001", reason="XID 79", ticket="T-42")
    plan = plan_action(request, _inventory(), FakeEngines(FakeSlurm(partitions=BATCH)))
    assert plan.allowed, plan.refusals
    [step] = plan.steps
    assert step.engine == Engine.SLURM and step.host == "ops@10.0.0.100"
    assert step.argv is not None and step.argv[:3] == ("scontrol", "update", "NodeName=gpu-001")
    assert any(part.startswith("Reason=") and "T-42" in part and "dana" in part for part in step.argv)
    assert "tenants affected: acme" in plan.notes


def test_without_a_scheduler_slurm_actions_are_refused_and_a_reboot_goes_over_ssh() -> None:
    inventory = _inventory(scheduler=False)
    drain = plan_action(_request(ActionKind.DRAIN, "gpu-001", reason="x"), inventory, FakeEngines())
    assert not drain.allowed and any("no [scheduler]" in r for r in drain.refusals)
    reboot = plan_action(_request(ActionKind.REBOOT, "gpu-001", reason="hung"), inventory, FakeEngines())
    [step] = reboot.steps
    assert (step.engine, step.argv) == (Engine.SSH, ("sudo", "-n", "systemctl", "reboot"))
    assert any("jobs on these nodes are not known" in w for w in reboot.warnings)


def test_an_ssh_reboot_of_a_node_with_jobs_names_them_and_needs_the_typed_name() -> None:
    job = Job("41002", "alice", "acme", "RUNNING", "3:00:10", "batch", ("gpu-001",), "pretrain")
    plan = plan_action(
        _request(ActionKind.REBOOT, "gpu-001", reason="hung", via=Engine.SSH),
        _inventory(),
        FakeEngines(FakeSlurm({"gpu-001": "ALLOCATED"}, [job], BATCH)),
    )
    assert plan.type_to_confirm == ["gpu-001"]
    with pytest.raises(ActionRefused, match="type the node name"):
        plan.confirm([])
    plan.confirm(["gpu-001"])


def test_a_power_reset_the_bmc_does_not_allow_is_refused_and_an_allowed_one_is_one_http_call() -> None:
    engines = FakeEngines(FakeSlurm(partitions=BATCH))
    bad = plan_action(_request(ActionKind.POWER, "gpu-001", reason="x", reset_type="Nmi"), _inventory(), engines)
    assert not bad.allowed
    good = plan_action(
        _request(ActionKind.POWER, "gpu-001", reason="x", reset_type="PowerCycle"), _inventory(), engines
    )
    [step] = good.steps
    assert step.engine == Engine.REDFISH and step.http is not None and step.http.body == {"ResetType": "PowerCycle"}


def test_an_unreadable_scheduler_is_a_warning_in_the_preview_not_a_crash() -> None:
    slurm = FakeSlurm(partitions=BATCH)
    slurm.failing = "ops@10.0.0.100: connection refused"
    plan = plan_action(_request(ActionKind.LOCATE, "gpu-001", led="blink"), _inventory(), FakeEngines(slurm))
    assert any("connection refused" in w for w in plan.warnings)


def test_availability_says_why_a_kind_cannot_run_on_a_node() -> None:
    inventory = _inventory(scheduler=False)
    spec = inventory.node("gpu-001")
    assert availability(ActionKind.DRAIN, spec, inventory) is not None
    assert availability(ActionKind.LOCATE, spec, inventory) is None


def _context(engines: FakeEngines, health: object | None = None) -> object:
    from console.core.actions.kinds.tracking import TrackContext, TrackTimeouts

    return TrackContext(engines, _inventory(), health, lambda: 0.0, TrackTimeouts(30, 900, 300))  # type: ignore[arg-type]


def test_each_kind_watches_its_own_outcome() -> None:
    from console.core.actions.kinds import SPECS
    from console.core.actions.kinds.tracking import Settled, Watch

    slurm = FakeSlurm({"gpu-001": "IDLE+DRAIN"}, partitions=BATCH)
    engines = FakeEngines(slurm)
    drain = plan_action(_request(ActionKind.DRAIN, "gpu-001", reason="x"), _inventory(), engines)
    action = type("A", (), {"request": drain.request, "steps": drain.steps, "nodes_label": "gpu-001"})()
    watch = SPECS[ActionKind.DRAIN].track(_context(engines), action)  # type: ignore[arg-type]
    assert isinstance(watch, Watch) and watch.timeout_s == 30 and watch.what == "checking Slurm"
    holds, words = watch.check()
    assert not holds and "holds the reason" in words  # drained, but not with our reason (yet)
    resume = SPECS[ActionKind.RESUME].track(_context(engines), action)  # type: ignore[arg-type]
    assert isinstance(resume, Watch) and resume.check() == (False, "Slurm still shows IDLE+DRAIN")
    led = SPECS[ActionKind.LOCATE].track(  # type: ignore[arg-type]
        _context(engines),
        type(
            "A",
            (),
            {"request": _request(ActionKind.LOCATE, "gpu-001", led="off"), "steps": [], "nodes_label": "gpu-001"},
        )(),
    )
    assert isinstance(led, Watch) and led.check() == (True, "BMC reports locate LED Off")
    unwatched = SPECS[ActionKind.REBOOT].track(  # type: ignore[arg-type]
        _context(FakeEngines()),
        type(
            "A",
            (),
            {"request": _request(ActionKind.REBOOT, "gpu-001", reason="x"), "steps": [], "nodes_label": "gpu-001"},
        )(),
    )
    assert isinstance(unwatched, Settled)  # over SSH with nothing watching the node: accepted is all we know


class ForeignTargetBmc(FakeBmc):
    """A BMC whose reset target and system link name another origin (the client refuses to build them)."""

    def reset_call(self, reset_type: str) -> HttpCall:
        raise RuntimeError(
            f"BMC {self.url} (gpu-001) handed out https://evil.example/steal, which is not its own origin: the "
            f"password is sent only to {self.url}"
        )

    led_call = reset_call  # type: ignore[assignment]


class ForeignEngines(FakeEngines):
    def bmc(self, node: NodeSpec) -> FakeBmc | None:
        return ForeignTargetBmc()


@pytest.mark.parametrize("fields", [{"reset_type": "PowerCycle"}, {"led": "blink"}])
def test_a_reset_or_led_target_on_another_origin_is_a_refusal_naming_the_bmc_and_the_target(
    fields: dict[str, str],
) -> None:
    kind = ActionKind.POWER if "reset_type" in fields else ActionKind.LOCATE
    plan = plan_action(_request(kind, "gpu-001", reason="hung", **fields), _inventory(), ForeignEngines())
    assert not plan.allowed and not plan.steps
    [refusal] = plan.refusals
    assert refusal.startswith("gpu-001: the ") and "cannot be sent to BMC https://10.1.0.1" in refusal
    assert "https://evil.example/steal" in refusal and "not its own origin" in refusal


def test_a_kind_whose_planning_fails_in_any_way_is_refused_in_words_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from console.core.actions import planning as actions

    def broken(*_args: object) -> None:
        raise KeyError("Actions")

    import dataclasses

    monkeypatch.setitem(
        actions.SPECS, ActionKind.LOCATE, dataclasses.replace(actions.SPECS[ActionKind.LOCATE], plan=broken)
    )
    plan = plan_action(_request(ActionKind.LOCATE, "gpu-001", led="on"), _inventory(), FakeEngines())
    assert plan.refusals == ["locate could not be planned: KeyError: 'Actions'"]
