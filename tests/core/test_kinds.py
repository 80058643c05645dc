"""One module per action kind: every kind has one spec, and the window's labels and shortcuts, the command
line's options and the planning all come from it."""

from __future__ import annotations

import pytest

from console.cli import build_parser
from console.core.actions.kinds import cancel_reboot, drain, locate, power, reassign, reboot, resume
from console.core.actions.planning import SPECS, ActionKind
from tests.helpers.cli_parser import options, subcommands


def _action_options() -> set[str]:
    return options(subcommands(build_parser())["action"])


def test_every_kind_has_exactly_one_spec_from_its_own_module() -> None:
    modules = (drain, resume, reboot, cancel_reboot, power, locate, reassign)
    assert set(SPECS) == set(ActionKind)
    assert all(SPECS[m.SPEC.kind] is m.SPEC for m in modules)
    assert all(callable(m.SPEC.plan) and callable(m.SPEC.track) for m in modules)


def test_labels_and_shortcuts_are_distinct() -> None:
    labels = [s.label for s in SPECS.values()]
    shortcuts = [s.shortcut for s in SPECS.values() if s.shortcut]
    assert len(labels) == len(set(labels)) and len(shortcuts) == len(set(shortcuts))


def test_the_options_a_kind_reads_are_options_of_the_command_line() -> None:
    options = _action_options()
    for spec in SPECS.values():
        for option in spec.options:
            assert "--" + option.replace("_", "-") in options, f"{spec.kind.value}: --{option} is not a CLI option"


def test_the_kinds_that_need_a_reason_and_where_they_go() -> None:
    assert {k for k, s in SPECS.items() if s.needs_reason} == {ActionKind.DRAIN, ActionKind.REBOOT, ActionKind.POWER}
    assert {k for k, s in SPECS.items() if s.needs_bmc} == {ActionKind.POWER, ActionKind.LOCATE}
    assert {k for k, s in SPECS.items() if s.needs_scheduler} == {
        ActionKind.DRAIN,
        ActionKind.RESUME,
        ActionKind.CANCEL_REBOOT,
        ActionKind.REASSIGN,
    }


def test_the_command_lines_help_lists_each_kind_with_its_summary() -> None:
    text = subcommands(build_parser())["action"].format_help()
    for kind, spec in SPECS.items():
        assert kind.value in text and spec.summary in text


def test_the_leds_left_lit_are_read_from_the_locates_that_went_through_group_rows_included() -> None:
    from console.core.actions.kinds.locate import lit_leds
    from console.core.records.store import AuditRow

    def row(action_id: int, node: str, led: str) -> AuditRow:
        return AuditRow(
            id=action_id, created_at=f"2026-12-07T03:1{action_id}:00Z", operator="dana.k", kind="locate",
            node=node, params={"led": led}, reason=None, ticket=None, engine="redfish", host="bmc",
            command=None, state="done", started_at=None, finished_at=f"2026-12-07T03:1{action_id}:05Z",
            exit_status=None, stdout=None, stderr=None, duration_s=5.0, message="",
        )  # fmt: skip

    rows = [row(1, "a,b", "blink"), row(2, "a", "off"), row(3, "c", "on"), row(4, "c", "on")]
    lit = lit_leds(rows)
    assert {node: r.id for node, r in lit.items()} == {"b": 1, "c": 4}
    assert lit_leds([]) == {}


def test_a_kinds_options_reach_the_request_and_the_command_line_from_its_module_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A toy kind in the place of locate: what it asks, and how, comes from its spec only."""
    import dataclasses

    from console.core.actions import kinds
    from console.core.actions.kinds.spec import KindOption

    toy = dataclasses.replace(
        kinds.SPECS[ActionKind.LOCATE],
        choices=(
            KindOption("led", "Toy LED:", "the toy's lamp", choices=("on", "party")),
            KindOption("then_resume", "After:", "the toy's flag", check_words="&Toy"),
        ),
    )
    monkeypatch.setitem(kinds.SPECS, ActionKind.LOCATE, toy)
    given = {"led": "party", "then_resume": True, "partition": "not the toy's", "reset_type": "PowerCycle"}
    request = kinds.build_request(ActionKind.LOCATE, ("n1",), "dana.k", None, None, given)
    assert (request.led, request.then_resume, request.partition, request.reset_type) == ("party", True, None, None)
    args = build_parser().parse_args(["action", "locate", "n1", "--inventory", "f.toml", "--led", "party"])
    assert args.led == "party"
    with pytest.raises(SystemExit):  # the toy's choices, not locate's
        build_parser().parse_args(["action", "locate", "n1", "--inventory", "f.toml", "--led", "blink"])
    # A kind that does not ask an option gets the request's default for it, whatever was given.
    reboot = kinds.build_request(ActionKind.REBOOT, ("n1",), "dana.k", "hung", None, {"led": "on", "via": "ssh"})
    assert reboot.led is None and reboot.via is not None and reboot.via.value == "ssh" and reboot.next_state == "RESUME"
