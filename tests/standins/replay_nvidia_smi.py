"""Stand-in for ``nvidia-smi`` on test nodes: replays a real recording from ../shared/fixtures/nvidia/.

Run by sshd as the node's ``nvidia-smi`` (a wrapper on PATH execs this file). The node it plays is the
address the client reached (third field of ``$SSH_CONNECTION``); ``$FLEET_REPLAY_DIR/<address>.json``
says which recording to replay and what to do, and is re-read every period so a test can change a
node's behaviour while it streams:

    {"recording": "/…/query-gpu-allfields_1xH100-80GB-HBM3_driver590_load.csv",
     "mode": "normal" | "truncate" | "garbage" | "silent" | "exit" | "flood" | "many-gpus" | "trickle"
             | "trickle-details" | "flap" | "long-lines",
     "exit_status": 9, "stderr": "…", "flap_s": 2.0}

``flap`` streams for ``flap_s`` seconds, then drops the node's SSH connection the way a flaky link or a
node losing its sshd does: it kills the sshd process of its own session (the connection dies, not just
the command).

``trickle`` hangs every call (a byte every half second, never a whole answer), ``trickle-details`` only
the slow path's ``-q -x``; each writes ``<address>.trickling`` when it starts, so a test knows it hangs.

A one-shot query that asks ``ecc.mode.current`` (the slow path's health fields) on a node with an ``xml``
recording is answered from that XML: the node has one driver. It refuses, as that driver would, the
fields its XML does not carry (remapped rows before R460, ``clocks_event_reasons`` before R535, the module
id where the XML shows none).

Honours ``--query-gpu=<fields>``, ``--format=csv[,noheader][,nounits]``, ``-lms N`` / ``-l N``.
Recordings: a ``--format=csv`` query with header and units (values taken column by column; a field the
recording's nvidia-smi did not know is refused the way nvidia-smi refuses it), or a default table
(multi-GPU recordings exist only as tables; fields a table does not show are ``[N/A]``). The timestamp
field is the current time: the stream is live, only the readings are recorded.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path


def canonical(header: str) -> str:
    name = header.strip().split(" [", 1)[0].strip()
    return {"clocks.current.sm": "clocks.sm"}.get(name, name)


def strip_unit(value: str) -> str:
    value = value.strip()
    if value.startswith("["):
        return value
    head, _, unit = value.partition(" ")
    return head if unit in {"%", "MiB", "W", "MHz", "C"} else value


def rows_from_csv(text: str) -> tuple[list[str], list[dict[str, str]]]:
    lines = [line for line in text.splitlines() if line.strip()]
    headers = [canonical(h) for h in lines[0].split(",")]
    rows = [dict(zip(headers, (v.strip() for v in line.split(",")), strict=True)) for line in lines[1:]]
    return headers, rows


def rows_from_table(text: str) -> tuple[list[str] | None, list[dict[str, str]]]:
    sys.path.insert(0, os.environ["FLEET_SOURCE_ROOT"])
    from console.core.telemetry.samples import NotAvailable
    from tests.standins.nvidia_table import parse_table

    def fmt(value: object, unit: str) -> str:
        if isinstance(value, NotAvailable):
            return "[N/A]"
        if isinstance(value, float):
            text = f"{value:.2f}" if unit == "W" else f"{value:.0f}"
            return f"{text} {unit}" if unit else text
        return str(value)

    table = parse_table(text)
    rows = []
    for gpu in table.gpus:
        s = gpu.sample
        rows.append(
            {
                "count": str(len(table.gpus)),
                "index": str(s.index),
                "name": fmt(s.model, ""),
                "uuid": f"GPU-{s.index:08d}-0000-0000-0000-000000000000",
                "pci.bus_id": fmt(s.pci_bus_id, ""),
                "utilization.gpu": fmt(s.utilization_pct, "%"),
                "memory.used": fmt(s.memory_used_mib, "MiB"),
                "memory.total": fmt(s.memory_total_mib, "MiB"),
                "temperature.gpu": fmt(s.temperature_c, ""),
                "power.draw": fmt(s.power_w, "W"),
                "power.limit": fmt(s.power_limit_w, "W"),
                "fan.speed": fmt(s.fan_pct, "%"),
                "pstate": fmt(s.pstate, ""),
                "driver_version": fmt(table.driver_version, ""),
            }
        )
    return None, rows


def rows_from_xml(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """The health fields of an ``-q -x`` recording, by query name; the names its driver knows."""
    sys.path.insert(0, os.environ["FLEET_SOURCE_ROOT"])
    import xml.etree.ElementTree as ET

    from console.core.parsers.nvidia_health import MODULE_FIELD, NUMBER_FIELDS, TEXT_FIELDS, THROTTLE_BITS
    from console.core.parsers.nvidia_xml import parse_nvidia_xml
    from console.core.telemetry.samples import NotAvailable

    root = ET.fromstring(text)
    first = root.find("gpu")
    has = {
        tag: first is not None and first.find(path) is not None
        for tag, path in (
            ("remapped", "remapped_rows"),
            ("event", "clocks_event_reasons"),
            ("throttle", "clocks_throttle_reasons"),
            ("module", "gpu_module_id"),
        )
    }
    query = parse_nvidia_xml(text)

    def fmt(value: object) -> str:
        if isinstance(value, NotAvailable):
            return "[N/A]"
        return f"{value:.0f}" if isinstance(value, float) else str(value)

    rows = []
    for gpu in query.gpus:
        mask = sum(bit for bit, name in THROTTLE_BITS if name in gpu.throttle_reasons)
        row = {"index": str(gpu.index), "driver_version": fmt(query.driver_version)}
        # The console's own table of health fields; remapped rows only where this driver's XML has them.
        row |= {
            name: fmt(getattr(gpu, attribute))
            for name, attribute in (TEXT_FIELDS | NUMBER_FIELDS).items()
            if has["remapped"] or not name.startswith("remapped_rows.")
        }
        if not isinstance(gpu.power_limit_w, NotAvailable):
            row["power.limit"] = f"{gpu.power_limit_w:.2f}"  # nvidia-smi prints watts with two decimals
        if has["event"]:
            row["clocks_event_reasons.active"] = f"0x{mask:016x}"
        if has["event"] or has["throttle"]:
            row["clocks_throttle_reasons.active"] = f"0x{mask:016x}"
        if has["module"]:
            row[MODULE_FIELD] = fmt(gpu.module_id)
        rows.append(row)
    return list(rows[0]) if rows else [], rows


def trickle(marker: Path) -> int:
    """A hung tool: one byte every half second for ever, never a whole answer (until the client goes)."""
    marker.write_text(str(os.getpid()))
    try:
        while True:
            sys.stdout.write(".")
            sys.stdout.flush()
            time.sleep(0.5)
    except BrokenPipeError:
        return 0


def main(argv: list[str]) -> int:  # noqa: PLR0912, PLR0915 - nvidia-smi's options and the hostile modes
    fields: list[str] | None = None
    fmt = ""
    interval_ms: int | None = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--query-gpu="):
            fields = [f.strip() for f in arg.split("=", 1)[1].split(",")]
        elif arg.startswith("--format="):
            fmt = arg.split("=", 1)[1]
        elif arg == "-lms":
            i += 1
            interval_ms = int(argv[i])
        elif arg == "-l":
            i += 1
            interval_ms = int(argv[i]) * 1000
        i += 1
    address = os.environ.get("SSH_CONNECTION", "x x 127.0.0.1 22").split()[2]
    control = Path(os.environ["FLEET_REPLAY_DIR"]) / f"{address}.json"
    mode = json.loads(control.read_text()).get("mode", "normal")
    if mode == "trickle" or (mode == "trickle-details" and argv[:2] == ["-q", "-x"]):
        return trickle(control.with_suffix(".trickling"))
    if argv[:2] == ["-q", "-x"]:
        # The slow path's health details: an `nvidia-smi -q -x` recording, where the test names one.
        xml = json.loads(control.read_text()).get("xml")
        if xml is None:
            print("stand-in nvidia-smi: no -q -x recording for this node", file=sys.stderr)
            return 2
        sys.stdout.write(Path(xml).read_text(encoding="utf-8"))
        return 0
    if fields is None:
        print("stand-in nvidia-smi replays --query-gpu and -q -x only", file=sys.stderr)
        return 2
    no_units = "nounits" in fmt
    header = "noheader" not in fmt

    first = True
    started = time.monotonic()
    while True:
        config = json.loads(control.read_text())
        mode = config.get("mode", "normal")
        if mode == "flap" and time.monotonic() - started >= float(config.get("flap_s", 2.0)):
            drop_connection()
            return 0
        recording = Path(config["recording"])
        text = recording.read_text(encoding="utf-8")
        if config.get("xml") and interval_ms is None and "ecc.mode.current" in fields:
            known, rows = rows_from_xml(Path(config["xml"]).read_text(encoding="utf-8"))
        else:
            known, rows = rows_from_csv(text) if recording.suffix == ".csv" else rows_from_table(text)
        if known is not None:
            for field in fields:
                if canonical(field) not in known:
                    print(f'Field "{field}" is not a valid field to query.\n', flush=True)
                    return 2
        if mode == "exit":
            sys.stderr.write(config.get("stderr", ""))
            sys.stderr.flush()
            return int(config.get("exit_status", 1))
        out = []
        if header and first:
            out.append(", ".join(fields))
        now = time.time()
        stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
        for row in rows:
            values = []
            for field in fields:
                name = canonical(field)
                value = stamp if name == "timestamp" else row.get(name, "[N/A]")
                values.append(strip_unit(value) if no_units else value)
            out.append(", ".join(values))
        if mode == "many-gpus":
            # A hostile or broken node: every row again under tens of thousands of GPU indices, once a period
            # (a burst); its count field says "gpus", or what "count" says (a tool that contradicts itself).
            count = int(config.get("gpus", 50_000))
            template = out[-1].split(", ")
            names = [canonical(f) for f in fields]
            if "count" in names:
                template[names.index("count")] = str(config.get("count", count))
            at = names.index("index")
            out = [", ".join([*template[:at], str(i), *template[at + 1 :]]) for i in range(count)]
        elif mode == "long-lines":
            # Lines just under the console's 64 KB line bound, as fast as the pipe takes them.
            block = ("x" * 60_000 + "\n") * 20
            try:
                while True:
                    sys.stdout.write(block)
            except BrokenPipeError:
                return 0
        elif mode == "flood":
            # Valid lines as fast as the pipe takes them, until the client goes away.
            block = ("\n".join(out) + "\n") * 2000
            try:
                while True:
                    sys.stdout.write(block)
            except BrokenPipeError:
                return 0
        if mode == "truncate":
            out[-1] = out[-1][: len(out[-1]) // 3]
        elif mode == "garbage":
            out.insert(0, "\x00\xff this is not csv at all")
        if mode != "silent":
            try:
                sys.stdout.write("\n".join(out) + "\n")
                sys.stdout.flush()
            except BrokenPipeError:
                return 0
        first = False
        if interval_ms is None:
            return 0
        time.sleep(interval_ms / 1000)


def drop_connection() -> None:
    """Kill the sshd process that serves this session (the first "sshd:" among the parents): the client
    sees its connection die, as when a node or its link goes down."""
    pid = os.getppid()
    while pid > 1:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return
        if cmdline.startswith(b"sshd:"):
            os.kill(pid, signal.SIGKILL)
            return
        pid = parent


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (BrokenPipeError, KeyboardInterrupt):
        sys.exit(0)
