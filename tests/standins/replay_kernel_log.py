"""Stand-in for ``journalctl`` and ``dmesg`` on test nodes: replays a recorded kernel log chosen per node
(``$FLEET_REPLAY_DIR/<address>.kernel.json``), or answers as the real tools do when the log cannot be read.
Without a configuration the node's log is empty: journalctl has no journal, dmesg prints nothing."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(tool: str) -> int:
    address = os.environ.get("SSH_CONNECTION", "x x 127.0.0.1 22").split()[2]
    control = Path(os.environ["FLEET_REPLAY_DIR"]) / f"{address}.kernel.json"
    config = json.loads(control.read_text()) if control.exists() else {"recording": "", "journal": False}
    recording = config.get("recording")
    if recording is None:  # an account that may not read the kernel log
        if tool == "journalctl":
            print("No journal files were found.")
            return 1
        print("dmesg: read kernel buffer failed: Operation not permitted", file=sys.stderr)
        return 1
    if tool == "journalctl" and not config.get("journal"):
        print("No journal files were found.")
        return 1
    if recording:
        sys.stdout.write(Path(recording).read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
