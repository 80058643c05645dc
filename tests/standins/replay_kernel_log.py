"""Stand-in for ``journalctl`` and ``dmesg`` on test nodes: replays a recorded kernel log chosen per node
(``$FLEET_REPLAY_DIR/<address>.kernel.json``), or answers as the real tools do when the log cannot be read.
Without a configuration the node's log is empty: journalctl has no journal, dmesg prints nothing."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

NO_JOURNAL = "No journal files were found."
NOT_ALL = (
    "Hint: You are currently not seeing messages from other users and the system.\n"
    "      Users in groups 'adm', 'systemd-journal' can see all messages.\n"
    "      Pass -q to turn off this notice."
)


def main(tool: str) -> int:
    address = os.environ.get("SSH_CONNECTION", "x x 127.0.0.1 22").split()[2]
    control = Path(os.environ["FLEET_REPLAY_DIR"]) / f"{address}.kernel.json"
    config = json.loads(control.read_text()) if control.exists() else {"recording": "", "journal": False}
    recording = config.get("recording")
    if recording is None:  # an account that may not read the kernel log
        if tool == "journalctl":
            # As the real one: a notice on stderr, no entries, and exit status 0.
            print(NOT_ALL, file=sys.stderr)
            print("-- No entries --")
            return 0
        print("dmesg: read kernel buffer failed: Operation not permitted", file=sys.stderr)
        return 1
    if tool == "journalctl" and not config.get("journal"):
        # A node without journald: the real journalctl exits 0 here (systemd 252, Debian 12).
        print(NO_JOURNAL, file=sys.stderr)
        print("-- No entries --")
        return 0
    if recording:
        sys.stdout.write(Path(recording).read_text(encoding="utf-8"))
    elif tool == "journalctl":
        print("-- No entries --")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
