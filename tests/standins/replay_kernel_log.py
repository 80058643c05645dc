"""Stand-in for ``journalctl`` and ``dmesg`` on test nodes: replays a recorded kernel log chosen per node
(``$FLEET_REPLAY_DIR/<address>.kernel.json``), or answers as the real tools do when the log cannot be read.
Without a configuration the node's log is empty: journalctl has no journal, dmesg prints nothing.

Following (``journalctl -f``, ``dmesg -w``) prints the recording, then what the test writes "on the node"
into ``$FLEET_REPLAY_DIR/<address>.kernel.live`` (from its start, then each line as it is appended), and
never ends by itself, as the real tools do; a tool that cannot read the log exits as it does without -f."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

NO_JOURNAL = "No journal files were found."
NOT_ALL = (
    "Hint: You are currently not seeing messages from other users and the system.\n"
    "      Users in groups 'adm', 'systemd-journal' can see all messages.\n"
    "      Pass -q to turn off this notice."
)


def since_epoch(args: list[str]) -> float | None:
    """``--since @EPOCH`` (the only form the console passes), as journalctl reads it."""
    for i, arg in enumerate(args):
        value = arg.split("=", 1)[1] if arg.startswith("--since=") else args[i + 1] if arg == "--since" else None
        if value is not None and value.startswith("@"):
            return float(value[1:])
    return None


def keep(line: str, since: float | None) -> bool:
    """journalctl --since drops entries before the time; a line without a readable stamp is kept."""
    if since is None:
        return True
    try:
        stamp = dt.datetime.strptime(line[:24], "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return True
    return stamp >= since


def follow(live: Path, since: float | None) -> int:
    """Print the live file's lines as they are appended, for ever (until the reader goes away)."""
    offset = 0
    try:
        while True:
            if live.exists():
                with live.open("rb") as handle:
                    handle.seek(offset)
                    data = handle.read()
                cut = data.rfind(b"\n") + 1
                if cut:
                    lines = data[:cut].decode("utf-8", "replace").splitlines(keepends=True)
                    sys.stdout.write("".join(line for line in lines if keep(line, since)))
                    sys.stdout.flush()
                    offset += cut
            time.sleep(0.05)
    except BrokenPipeError:
        return 0


def main(tool: str, args: list[str]) -> int:
    address = os.environ.get("SSH_CONNECTION", "x x 127.0.0.1 22").split()[2]
    control = Path(os.environ["FLEET_REPLAY_DIR"]) / f"{address}.kernel.json"
    following = ("-f" in args or "--follow" in args) if tool == "journalctl" else ("-w" in args or "--follow" in args)
    live = control.with_name(f"{address}.kernel.live")
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
    since = since_epoch(args) if tool == "journalctl" else None
    if recording:
        lines = Path(recording).read_text(encoding="utf-8").splitlines(keepends=True)
        sys.stdout.write("".join(line for line in lines if keep(line, since)))
    elif tool == "journalctl" and not following:
        print("-- No entries --")
    if following:
        sys.stdout.flush()
        return follow(live, since)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
