"""The simulated fleet's SSH server: paramiko in server mode, one port and one host key per virtual node.

The console reaches these nodes exactly as it reaches real ones (known_hosts, key auth, one exec channel
per stream); nothing on its side knows it is talking to a simulator. Threads: one acceptor for all
listening sockets, one streamer that writes every running ``nvidia-smi -lms`` loop, and paramiko's
transport thread per connection.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import shlex
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from console.core.parsers.nvidia_csv import STREAM_FIELDS
from console.core.telemetry.details import DETAILS_SCRIPT, FOLLOW_TOOL_PREFIX, KERNEL_FOLLOW_SCRIPT
from console.core.telemetry.sources import FRAME, TELEMETRY_SCRIPT, VENDOR_LINE
from console.sim import details as sim_details
from console.sim import nvidia_smi, vendor_tools
from console.sim.model import SimNode
from console.sim.redfish import BOOT_S, SimBmc
from console.sim.slurm import SimSlurm

log = logging.getLogger(__name__)

STREAM_TICK_S: Final = 0.05
SEND_TIMEOUT_S: Final = 1.0
# As on the client: the transport thread only needs to wake for shutdown once the session is up.
IDLE_SOCKET_TIMEOUT_S: Final = 2.0


def ensure_ed25519_key(path: Path) -> paramiko.Ed25519Key:
    """Load the key at ``path``, creating it (and ``path.pub``) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pem)
        tmp.chmod(0o600)
        tmp.replace(path)
    key = paramiko.Ed25519Key(filename=str(path))
    pub = Path(str(path) + ".pub")
    if not pub.exists():
        pub.write_text(f"{key.get_name()} {key.get_base64()} fleet-console-sim\n")
    return key


@dataclass(eq=False, slots=True)
class _Stream:
    """A command being answered: a fixed answer, or nvidia-smi rows (once, or every interval)."""

    node: SimNode
    channel: paramiko.Channel
    query: nvidia_smi.Query | None
    due: float
    first: bool = True
    answer: tuple[bytes, bytes, int] | None = None
    # For the console's telemetry scripts: "ascend" or "amd" frames, the vendor line of auto-detection,
    # and the period (None: once).
    kind: str = "nvidia"
    vendor_line: str | None = None
    interval_s: float | None = None
    since: float = 0.0  # "kernel": the followed kernel log, printed up to here


@dataclass(eq=False, slots=True)
class _Listener:
    node: SimNode
    port: int
    key: paramiko.PKey
    sock: socket.socket | None = None
    transports: list[paramiko.Transport] = field(default_factory=list)
    scheduler: bool = False  # the simulated Slurm control host, not a GPU node


class _NodeServer(paramiko.ServerInterface):
    def __init__(self, sim: SimServer, listener: _Listener) -> None:
        self.sim = sim
        self.listener = listener

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if any(key == allowed for allowed in self.sim.authorized_keys):
            return paramiko.common.AUTH_SUCCESSFUL
        return paramiko.common.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.common.OPEN_SUCCEEDED
        return paramiko.common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self.sim.exec_command(self.listener, channel, command.decode("utf-8", "replace"))
        return True


class SimServer:
    def __init__(
        self,
        nodes: list[SimNode],
        keys_dir: Path,
        authorized_keys: list[paramiko.PKey],
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
        ports: dict[str, int] | None = None,
        with_scheduler: bool = False,
    ) -> None:
        self.nodes = nodes
        self.host = host
        self.clock = clock
        self.authorized_keys = authorized_keys
        self._listeners = [
            _Listener(node, (ports or {}).get(node.name, 0), ensure_ed25519_key(keys_dir / f"{node.name}.key"))
            for node in nodes
        ]
        # Nodes off the network because the simulated Slurm rebooted them or their BMC powered them off.
        self.offline_until: dict[str, float] = {}
        self.powered_off: set[str] = set()
        self.slurm: SimSlurm | None = None
        self.bmc: SimBmc | None = None
        if with_scheduler and nodes:
            self.slurm = SimSlurm(nodes, self.set_offline, clock)
            scheduler_node = replace(nodes[0], name="scheduler", index=-1)
            self._listeners.append(
                _Listener(
                    scheduler_node,
                    (ports or {}).get("scheduler", 0),
                    ensure_ed25519_key(keys_dir / "scheduler.key"),
                    scheduler=True,
                )
            )
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._streams: list[_Stream] = []
        self._running = False
        self._threads: list[threading.Thread] = []

    def set_offline(self, node: str, until: float) -> None:
        self.offline_until[node] = until

    def set_power(self, node: str, on: bool) -> None:
        if on:
            self.powered_off.discard(node)
            # Booting after power-on takes a while before sshd answers.
            self.offline_until[node] = self.clock() + BOOT_S
        else:
            self.powered_off.add(node)

    def _offline(self, listener: _Listener, now: float) -> bool:
        if listener.scheduler:
            return False
        name = listener.node.name
        return listener.node.offline(now) or name in self.powered_off or now < self.offline_until.get(name, 0.0)

    # --- life cycle ------------------------------------------------------------------------------------

    def start(self) -> dict[str, int]:
        self._running = True
        for listener in self._listeners:
            self._listen(listener)
        for target, name in ((self._accept_loop, "sim-accept"), (self._stream_loop, "sim-stream")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self.ports

    @property
    def ports(self) -> dict[str, int]:
        return {listener.node.name: listener.port for listener in self._listeners}

    def host_keys(self) -> dict[str, paramiko.PKey]:
        return {listener.node.name: listener.key for listener in self._listeners}

    def stop(self) -> None:
        self._running = False
        for thread in self._threads:
            thread.join(timeout=5)
        for listener in self._listeners:
            self._go_offline(listener)
        self._selector.close()
        if self.bmc is not None:
            self.bmc.stop()

    def _listen(self, listener: _Listener) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, listener.port))
        sock.listen(64)
        sock.setblocking(False)
        listener.port = sock.getsockname()[1]
        listener.sock = sock
        with self._lock:
            self._selector.register(sock, selectors.EVENT_READ, listener)

    def _go_offline(self, listener: _Listener) -> None:
        with self._lock:
            if listener.sock is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(listener.sock)
                listener.sock.close()
                listener.sock = None
            transports, listener.transports = listener.transports, []
            self._streams = [s for s in self._streams if s.node is not listener.node]
        for transport in transports:
            transport.close()

    # --- threads -----------------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while self._running:
            with self._lock:
                ready = self._selector.select(timeout=0) if self._selector.get_map() else []
            if not ready:
                time.sleep(0.02)
                continue
            for key, _ in ready:
                listener: _Listener = key.data
                try:
                    conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
                except (BlockingIOError, OSError):
                    continue
                conn.setblocking(True)
                self._serve(listener, conn)

    def _serve(self, listener: _Listener, conn: socket.socket) -> None:
        transport = paramiko.Transport(conn)
        transport.add_server_key(listener.key)
        with self._lock:
            listener.transports = [t for t in listener.transports if t.is_active()] + [transport]
        try:
            transport.start_server(event=threading.Event(), server=_NodeServer(self, listener))
        except (paramiko.SSHException, OSError, EOFError):
            transport.close()

    def _stream_loop(self) -> None:
        while self._running:
            now = self.clock()
            if self.slurm is not None:
                self.slurm.tick()
            if self.bmc is not None:
                self.bmc.tick()
            for listener in self._listeners:
                offline = self._offline(listener, now)
                if offline and listener.sock is not None:
                    log.info("%s drops off the network", listener.node.name)
                    self._go_offline(listener)
                elif not offline and listener.sock is None:
                    log.info("%s is back", listener.node.name)
                    try:
                        self._listen(listener)
                    except OSError as exc:  # the port was taken meanwhile; try again next tick
                        log.warning("%s cannot listen again on %s: %s", listener.node.name, listener.port, exc)
            with self._lock:
                due = [s for s in self._streams if s.due <= now]
            for stream in due:
                try:
                    self._emit(stream, now)
                except Exception:
                    log.debug("stream to %s ended", stream.node.name, exc_info=True)
                    self._remove(stream)
                    _close_quietly(stream.channel)
            time.sleep(STREAM_TICK_S)

    # --- commands ----------------------------------------------------------------------------------------

    def exec_command(self, listener: _Listener, channel: paramiko.Channel, command: str) -> None:
        """Called on the connection's transport thread, before paramiko confirms the exec: queue the
        answer for the streamer thread, which sends it once the channel is confirmed."""
        transport = channel.get_transport()
        if isinstance(transport.sock, socket.socket):
            transport.sock.settimeout(IDLE_SOCKET_TIMEOUT_S)
        query: nvidia_smi.Query | None = None
        answer: tuple[bytes, bytes, int] | None = None
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            argv = []
            answer = (b"", f"sh: syntax error: {exc}\n".encode(), 2)
        program = argv[0].rsplit("/", 1)[-1] if argv else ""
        script = _script_of(argv) if answer is None else None
        node = listener.node
        if script is not None and script[0] == "details":
            parts = argv[5].split() if len(argv) > 5 else []
            nvidia = next((part for part in parts if part in ("nvidia", "nvidia-health")), None)
            answer = (self._details(node, argv, nvidia, kernel="kernel" in parts).encode(), b"", 0)
            script = None
        elif script is not None and script[0] == "kernel":
            self._queue(listener, channel, self._kernel_stream(node, channel, argv))
            return
        if answer is None and listener.scheduler and self.slurm is not None:
            out, err, status = self.slurm.run(argv)
            answer = (out.encode(), err.encode(), status)
        elif script is not None:
            self._queue(listener, channel, _script_stream(node, channel, script, self.clock()))
            return
        elif answer is None and argv[:2] == ["sh", "-c"]:
            answer = (b"", b"sh: the simulated node runs only the console's own telemetry scripts\n", 2)
        elif answer is None and (program != "nvidia-smi" or node.vendor != "nvidia"):
            answer = (b"", f"sh: 1: {program}: not found\n".encode(), 127)
        elif answer is None:
            try:
                query = nvidia_smi.parse_argv(argv)
            except nvidia_smi.UsageError as exc:
                answer = (str(exc).encode(), b"", exc.status)
        stream = _Stream(
            listener.node,
            channel,
            query,
            due=self.clock() + STREAM_TICK_S,
            answer=answer,
            interval_s=query.interval_s if query else None,
        )
        self._queue(listener, channel, stream)

    def _kernel_stream(self, node: SimNode, channel: paramiko.Channel, argv: list[str]) -> _Stream:
        """``journalctl -k -f --since @$1`` on a simulated node: its XID lines from then on, every second."""
        now = self.clock()
        try:
            since = float(argv[4])
        except (IndexError, ValueError):
            since = now - 3600
        return _Stream(node, channel, None, due=now + STREAM_TICK_S, kind="kernel", interval_s=1.0, since=since)

    def _details(self, node: SimNode, argv: list[str], nvidia: str | None, kernel: bool = True) -> str:
        now = self.clock()
        try:
            since = float(argv[4]) if len(argv) > 4 else now - 3600
        except ValueError:
            since = now - 3600
        boot = now - 86400 * (3 + node.index % 20)
        if self.slurm is not None and node.name in self.slurm.nodes:
            boot = self.slurm.nodes[node.name].boot_time
        return sim_details.detail_output(
            node, nvidia if node.vendor == "nvidia" else None, since, now, boot, kernel=kernel, field_lists=argv[6:8]
        )

    def _queue(self, listener: _Listener, channel: paramiko.Channel, stream: _Stream) -> None:
        # A client that stops reading must not stall every other node's stream: bounded sends.
        channel.settimeout(SEND_TIMEOUT_S)
        with self._lock:
            self._streams.append(stream)

    def _emit(self, stream: _Stream, now: float) -> None:
        if stream.answer is not None or (stream.query is None and stream.kind == "nvidia"):
            self._remove(stream)
            self._finish(stream.channel, *(stream.answer or (b"", b"", 1)))
            return
        text = ""
        if stream.kind == "kernel":
            if stream.first:
                text = f"{FOLLOW_TOOL_PREFIX}journalctl\n"
            text += sim_details.kernel_log(stream.node, stream.since, now)
            stream.since = float(int(now))
        if stream.vendor_line is not None:
            text, stream.vendor_line = stream.vendor_line + "\n", None
        if stream.kind == "ascend":
            text += vendor_tools.npu_smi_info(stream.node, now) + f"\n{FRAME} npu-smi 0\n"
        elif stream.kind == "kernel":
            pass
        elif stream.kind == "amd":
            if stream.first:
                text += vendor_tools.amd_smi_static(stream.node) + f"\n{FRAME} amd-smi-static 0\n"
            text += vendor_tools.amd_smi_metric(stream.node, now) + f"\n{FRAME} amd-smi-metric 0\n"
        else:
            assert stream.query is not None
            lines = nvidia_smi.rows(stream.node, stream.query, now)
            if stream.first and stream.query.header:
                lines.insert(0, nvidia_smi.header_line(stream.query))
            text += "\n".join(lines) + "\n"
        stream.first = False
        data = text.encode()
        if stream.interval_s is None:
            self._remove(stream)
            self._finish(stream.channel, data, b"", 0)
            return
        try:
            stream.channel.sendall(data)
        except (OSError, EOFError, paramiko.SSHException):
            self._remove(stream)
            _close_quietly(stream.channel)
            return
        if stream.channel.closed or stream.channel.eof_received:
            self._remove(stream)
            _close_quietly(stream.channel)
            return
        # Keep the period anchored to the schedule, as nvidia-smi's loop does, not drifting with load.
        stream.due = max(stream.due + stream.interval_s, now - stream.interval_s)

    def _remove(self, stream: _Stream) -> None:
        with self._lock:
            if stream in self._streams:
                self._streams.remove(stream)

    @staticmethod
    def _finish(channel: paramiko.Channel, stdout: bytes, stderr: bytes, status: int) -> None:
        try:
            if stdout:
                channel.sendall(stdout)
            if stderr:
                channel.sendall_stderr(stderr)
            channel.send_exit_status(status)
            channel.shutdown_write()
            channel.close()
        except (OSError, EOFError, paramiko.SSHException):
            pass


def _script_of(argv: list[str]) -> tuple[str, bool] | None:
    """Which of the console's own node-side scripts an argv runs (a simulated node has no shell): its kind
    ("ascend", "amd", "auto", "details", "kernel") and whether it loops."""
    if argv[:2] != ["sh", "-c"] or len(argv) < 3:
        return None
    if argv[2] == TELEMETRY_SCRIPT and len(argv) > 5:
        return argv[5], argv[4] == "stream"
    if argv[2] == DETAILS_SCRIPT:
        return "details", False
    if argv[2] == KERNEL_FOLLOW_SCRIPT:
        return "kernel", True
    return None


_TOOL: Final = {"nvidia": "nvidia-smi", "ascend": "npu-smi", "amd": "amd-smi"}


def _script_stream(node: SimNode, channel: paramiko.Channel, script: tuple[str, bool], now: float) -> _Stream:
    kind, loop = script
    interval = 1.0 if loop else None
    vendor_line = None
    if kind == "auto":
        kind = node.vendor
        vendor_line = f"{VENDOR_LINE} {node.vendor} {_TOOL[node.vendor]}"
    elif kind != node.vendor:
        tool = "npu-smi" if kind == "ascend" else "amd-smi"
        # What the loop prints on a node without the tool: the shell's complaint, then the frame line.
        answer = f"sh: 1: {tool}: not found\n{FRAME} {tool} 127\n".encode()
        return _Stream(node, channel, None, due=now + STREAM_TICK_S, answer=(answer, b"", 0))
    query = None
    if kind == "nvidia":
        query = nvidia_smi.Query(STREAM_FIELDS, header=False, units=False, interval_s=interval)
    return _Stream(
        node, channel, query, due=now + STREAM_TICK_S, kind=kind, vendor_line=vendor_line, interval_s=interval
    )


def _close_quietly(channel: paramiko.Channel) -> None:
    with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
        channel.close()
