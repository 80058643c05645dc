"""Locate: the chassis' locate LED on, off or blinking (IndicatorLED, or LocationIndicatorActive on newer
BMCs), so a technician finds the box."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Final

from console.core.actions.action_types import LED_STATES, ActionKind, ActionPlan
from console.core.actions.kinds.bmc_steps import asked_bmcs, bmc_step
from console.core.actions.kinds.spec import KindOption, KindSpec, PlanContext
from console.core.actions.kinds.tracking import TrackContext, TrackedAction, Watch
from console.core.inventory import NodeSpec
from console.core.records.store import AuditRow
from console.core.when import local_stamp, parse_iso


def plan(plan: ActionPlan, specs: list[NodeSpec], context: PlanContext) -> None:
    led = plan.request.led
    if led not in LED_STATES:
        plan.refusals.append(f"locate needs on, off or blink, not {led!r}")
        return
    for spec, _preview, bmc in asked_bmcs(plan, specs, context):
        bmc_step(plan, spec, bmc, partial(bmc.led_call, led), f"the locate LED ({led})")


# What the BMC reports for each LED request: IndicatorLED's word, or LocationIndicatorActive's boolean.
LED_TARGET: Final = {"on": ("Lit", True), "off": ("Off", False), "blink": ("Blinking", True)}


def led_left_on(last: AuditRow | None) -> str | None:
    """ "locate LED still on since 2026-12-07 03:12:40 CET (locate #41 by dana)" when the last locate that went
    through lit the LED (on or blink); None when it was turned off or never lit. The record, not the window,
    keeps it: a restart or another desk knows it too."""
    if last is None or last.params.get("led") not in ("on", "blink"):
        return None
    since = parse_iso(last.finished_at or last.created_at)
    word = "blinking" if last.params.get("led") == "blink" else "on"
    return f"locate LED still {word} since {local_stamp(since)} (locate #{last.id} by {last.operator})"


def lit_leds(done: Sequence[AuditRow]) -> dict[str, AuditRow]:
    """Per node, the locate that left its LED lit (on or blink), from the locates that went through, oldest
    first: the record keeps the LED's state, so a restart, another desk, ``find`` and ``poll`` know it."""
    last: dict[str, AuditRow] = {}
    for row in done:
        for node in row.node.split(","):
            last[node] = row
    return {node: row for node, row in last.items() if led_left_on(row) is not None}


def lit_led_words(done: Sequence[AuditRow]) -> dict[str, str]:
    """Per node whose LED the locates that went through left lit, what :func:`led_left_on` says of it
    ("locate LED still on since … (locate #41 by dana)"): what the window, ``find`` and ``poll`` show."""
    return {node: words for node, row in lit_leds(done).items() if (words := led_left_on(row)) is not None}


def track(context: TrackContext, action: TrackedAction) -> Watch:
    spec = context.inventory.node(action.nodes_label)
    bmc = context.engines.bmc(spec)
    assert bmc is not None
    word, active = LED_TARGET[action.request.led or "off"]

    def check() -> tuple[bool, str]:
        state = bmc.led_state()
        return state in (word, str(active)), f"BMC reports locate LED {state}"

    return Watch(check, context.timeouts.verify_s, "asking the BMC")


SPEC = KindSpec(
    kind=ActionKind.LOCATE,
    label="Locate LED…",
    summary="the chassis' locate LED on, off or blinking",
    needs_reason=False,
    plan=plan,
    track=track,
    options=("led",),
    choices=(KindOption("led", "Locate LED:", "the LED state", choices=LED_STATES, preset="blink"),),
    needs_bmc=True,
)
