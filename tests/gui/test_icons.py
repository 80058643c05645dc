"""The shipped icons (resources/icons, SVG, one style): one per node state, in the state's colour and a
shape of its own, and one per action kind for the toolbar; each renders."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from console.core.actions.planning import SPECS
from console.core.resources import resource
from console.core.telemetry.samples import NodeState
from console.gui.style import STATE_COLOURS, action_icon, app_icon, state_icon


def _svg(name: str) -> ET.Element:
    return ET.fromstring(resource(f"icons/{name}.svg").read_bytes())


def test_every_state_has_an_icon_in_its_colour_and_each_a_different_drawing(qtbot: Any) -> None:
    drawings = set()
    for state in NodeState:
        name = "state-" + state.name.lower().replace("_", "-")
        root = _svg(name)
        assert root.get("data-colour") == STATE_COLOURS[state][0], name
        drawings.add(resource(f"icons/{name}.svg").read_text().split("</title>", 1)[1])
        assert not state_icon(state).isNull()
    assert len(drawings) == len(NodeState)  # told apart without colour too


def test_every_action_kind_has_a_toolbar_icon_and_the_app_has_its_own(qtbot: Any) -> None:
    for kind in SPECS:
        assert _svg(f"action-{kind.value}").get("viewBox") == "0 0 24 24"
        assert not action_icon(kind.value).isNull()
    assert not app_icon().isNull()
