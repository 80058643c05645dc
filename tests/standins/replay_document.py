"""Stand-in for ``npu-smi`` and ``amd-smi``/``rocm-smi`` on test nodes: prints a real recording from
tests/fixtures/ (chosen per node address in ``$FLEET_REPLAY_DIR/<address>.<tool>.json``, re-read on every
call), the way the tool would print it once. The console's own loop calls it once a second.

    {"recording": "/…/npu-smi-info_8x910B3_npusmi25.2.0_one-process.txt", "mode": "normal" | "exit" | "cut"}
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(tool: str, argv: list[str]) -> int:
    address = os.environ.get("SSH_CONNECTION", "x x 127.0.0.1 22").split()[2]
    control = Path(os.environ["FLEET_REPLAY_DIR"]) / f"{address}.{tool}.json"
    if not control.exists():
        print(f"{tool}: this test node has no {tool} recording", file=sys.stderr)
        return 127
    config = json.loads(control.read_text())
    if tool == "amd-smi" and argv[:1] == ["static"]:
        recording = Path(config.get("static", config["recording"]))
    else:
        recording = Path(config["recording"])
    text = recording.read_text(encoding="utf-8")
    mode = config.get("mode", "normal")
    if mode == "exit":
        sys.stderr.write(config.get("stderr", "dcmi module initialize failed. ret is -8005\n"))
        return int(config.get("exit_status", 1))
    if mode == "alarm":
        # Fault injection on the way out (the recording itself is untouched): the first NPU reads Alarm.
        text = text.replace("| OK  ", "| Alarm", 1)
    if mode == "cut":
        text = text[: int(len(text) * float(config.get("cut_at", 0.66)))]
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1], sys.argv[2:]))
    except BrokenPipeError:
        sys.exit(0)
