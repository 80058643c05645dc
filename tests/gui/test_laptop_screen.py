"""On a crash-cart laptop's 1366 × 768 screen, under a real window manager (openbox) with a 32-px panel: the
main window, each of its tabs, the handover report, an action's dialog, Find the box and the name dialog
fit the screen's available geometry, title bar included, and every button is on the screen.

Not offscreen: Xvfb is a real X server and openbox a real window manager that frames, places and keeps
windows out of the panel's strip, which is what cut the handover dialog's buttons off (issue 22.11). The
widgets are shown in a child process (tests/helpers/laptop_screen.py); screenshots land in
$FLEET_SCREENSHOTS when it is set. Xvfb and openbox are started here and stopped by their PIDs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require

SCREEN = (1366, 768)
PANEL_PX = 32
REPO = Path(__file__).resolve().parents[2]
OPENBOX_RC = f"""<?xml version="1.0" encoding="UTF-8"?>
<openbox_config xmlns="http://openbox.org/3.4/rc">
  <margins><top>0</top><bottom>{PANEL_PX}</bottom><left>0</left><right>0</right></margins>
</openbox_config>
"""


def _free_display() -> int:
    for number in range(91, 140):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            return number
    raise RuntimeError("no free X display number between :91 and :139")


def _wait(what: str, ready: Any, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not come up within {timeout_s} s")


@pytest.fixture(scope="module")
def laptop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    xvfb = require("Xvfb", "the laptop-screen test runs a real X server")
    openbox = require("openbox", "the laptop-screen test runs a real window manager")
    xprop = require("xprop", "the laptop-screen test reads the window manager's work area")
    home = tmp_path_factory.mktemp("laptop")
    (home / "rc.xml").write_text(OPENBOX_RC)
    number = _free_display()
    env = {**os.environ, "DISPLAY": f":{number}", "QT_QPA_PLATFORM": "xcb"}
    server = subprocess.Popen(
        [xvfb, f":{number}", "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    manager = None
    try:
        _wait("Xvfb", lambda: Path(f"/tmp/.X11-unix/X{number}").exists())
        manager = subprocess.Popen(
            [openbox, "--config-file", str(home / "rc.xml")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def work_area() -> bool:
            read = subprocess.run(
                [xprop, "-root", "_NET_WORKAREA"], env=env, capture_output=True, text=True, check=False
            )
            return f"{SCREEN[1] - PANEL_PX}" in read.stdout

        _wait("openbox's work area", work_area)
        yield env
    finally:
        for process in (manager, server):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


def _inside(rect: list[int], room: list[int]) -> bool:
    x, y, w, h = rect
    rx, ry, rw, rh = room
    return x >= rx and y >= ry and x + w <= rx + rw and y + h <= ry + rh


def test_every_window_and_dialog_fits_a_1366x768_laptop_under_a_window_manager(
    laptop: dict[str, str], tmp_path: Path
) -> None:
    shots = Path(os.environ.get("FLEET_SCREENSHOTS") or tmp_path) / "laptop-1366x768"
    done = subprocess.run(
        [sys.executable, "-m", "tests.helpers.laptop_screen", str(shots)],
        env=laptop,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    names = {r["name"] for r in results}
    assert {"main-window", "handover", "action-drain", "find-box", "operator"} <= names
    for result in results:
        room = result["available"]
        assert room[3] == SCREEN[1] - PANEL_PX, result  # the window manager keeps the panel's strip
        assert _inside(result["frame"], room), (result["name"], result["frame"], room)
        for button in result["buttons"]:
            assert _inside(button["rect"], room) and button["whole"], (result["name"], button)
    log_tab = next(r for r in results if any(b["text"] == "&Acknowledge" for b in r["buttons"]))
    assert {"&Acknowledge", "Add &note", "Re&solve", "&Timeline"} <= {b["text"] for b in log_tab["buttons"]}
