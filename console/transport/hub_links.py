"""What the stream hub keeps for each node: its link (connection, channel, buffers, state, backoff, line and
byte budgets) and its kernel-log follow, the budgets themselves, the hub's settings and what it tells its
listener; the channel helpers, the wall clock and the process's file limit. The hub's thread
(console.transport.hub) works on these."""

from __future__ import annotations

import contextlib
import os
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

import paramiko

from console.core.backoff import Backoff
from console.core.inventory import NodeSpec
from console.core.telemetry.details import FOLLOW_TOOL_PREFIX as FOLLOW_TOOL_WORDS
from console.core.telemetry.samples import NodeState
from console.transport.ssh import (
    Target,
)

MAX_LINE_BYTES: Final = 64 * 1024


STDERR_KEEP_BYTES: Final = 2048


# Read at most this much from one channel per turn, so a flooding node cannot starve the others.
READ_TURN_BYTES: Final = 256 << 10


class HubListener(Protocol):
    def on_state(self, node: str, state: NodeState, error: str | None, fingerprint: str | None) -> None: ...

    def on_lines(self, node: str, lines: Sequence[str], received_at: float) -> None: ...

    def on_kernel_lines(self, node: str, lines: Sequence[str], received_at: float) -> None: ...

    def on_kernel_state(self, node: str, state: str) -> None: ...


# A followed kernel log: lines per second accepted after the first burst (the look-back at connect may
# be a whole dmesg ring buffer); the excess is dropped and counted, the channel kept.
KERNEL_LINES_PER_S: Final = 200.0


KERNEL_BURST_LINES: Final = 20_000.0


FOLLOW_TOOL_PREFIX: Final = FOLLOW_TOOL_WORDS.encode()


@dataclass(slots=True)
class HubSettings:
    stale_after_s: float = 3.0
    restart_after_s: float = 20.0
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    # A connection that has delivered telemetry this long is healthy: the reconnect backoff starts again from
    # its base (a jittered second), so a node that drops now and then is back within seconds. One that drops
    # sooner keeps backing off, so a flapping node is not hammered.
    healthy_after_s: float = 30.0
    connect_workers: int = 16
    tick_s: float = 0.25
    # Per node: lines accepted per second (about 20 times what a busy node prints: 8 GPUs at 1 Hz, or an
    # npu-smi/amd-smi document of up to ~60 lines a second), and how long a node may exceed it before its
    # command is stopped and restarted after a backoff. Excess lines are dropped, never queued.
    max_lines_per_s: float = 1200.0
    # And bytes a second (an amd-smi or npu-smi document is at most 1 MiB, most are a few KB): lines of
    # 60 KB each at 1,200 a second were 70 MB a second for the parser, and the other nodes went stale.
    max_bytes_per_s: float = float(1 << 20)
    flood_grace_s: float = 3.0
    # A followed kernel log that ended (no permission, no tool) is started again after this backoff.
    follow_backoff_base_s: float = 10.0
    follow_backoff_cap_s: float = 600.0
    # After a pass over the ready channels the selector waits this long before the next, so that each pass
    # reads many channels: at 1,000 nodes a channel becomes readable about every millisecond, and a pass
    # per channel (a select call, a wake-up and a GIL hand-over each) cost more than the reading.
    gather_s: float = 0.02


@dataclass(slots=True)
class LineBudget:
    """A token bucket of lines: refilled at ``rate`` a second up to ``cap``; lines beyond it are not taken."""

    rate: float
    cap: float
    tokens: float = 0.0
    at: float = 0.0

    def reset(self, now: float) -> None:
        self.tokens, self.at = self.cap, now

    def take(self, wanted: int, now: float) -> int:
        """How many of ``wanted`` lines may pass now (they are taken from the budget)."""
        allowed = min(wanted, max(0, int(self.available(now))))
        self.tokens -= allowed
        return allowed

    def available(self, now: float) -> float:
        """What the budget holds now (refilled since the last look)."""
        self.tokens = min(self.cap, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return self.tokens


@dataclass(eq=False, slots=True)
class KernelFollow:
    """The kernel-log channel of one node."""

    link: NodeLink
    backoff: Backoff
    channel: paramiko.Channel | None = None
    buffer: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    opening: bool = False
    next_attempt: float = 0.0  # monotonic
    since: float | None = None  # wall time of the last data read: where a new follow starts
    tool: str = "the kernel log"
    budget: LineBudget = field(default_factory=lambda: LineBudget(KERNEL_LINES_PER_S, KERNEL_BURST_LINES))
    dropped: int = 0
    eof_at: float | None = None


@dataclass(eq=False, slots=True)
class NodeLink:
    spec: NodeSpec
    argv: list[str]
    label: str  # what the command is called in messages (the tool, not "sh")
    backoff: Backoff
    target: Target | None = None
    client: paramiko.SSHClient | None = None
    channel: paramiko.Channel | None = None
    buffer: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    state: NodeState = NodeState.CONNECTING
    error: str | None = None
    fingerprint: str | None = None
    next_attempt: float = 0.0  # monotonic; 0 = now
    connecting: bool = False
    eof_at: float | None = None
    channel_started: float = 0.0
    last_line: float = 0.0
    streaming_since: float | None = None  # monotonic: the first line of the channel now open
    budget: LineBudget = field(default_factory=lambda: LineBudget(0.0, 0.0))  # lines a second (settings)
    byte_budget: LineBudget = field(default_factory=lambda: LineBudget(0.0, 0.0))  # bytes a second
    flooding_since: float | None = None  # when the node first went over its budget (and has not been quiet since)
    over_at: float = 0.0  # when it was last over its budget
    dropped: int = 0
    follow: KernelFollow | None = None

    @property
    def name(self) -> str:
        return self.spec.name


def keep_stderr(channel: paramiko.Channel, buffer: bytearray) -> None:
    """Read what the command wrote on stderr, keeping its last STDERR_KEEP_BYTES."""
    while channel.recv_stderr_ready():
        buffer += channel.recv_stderr(4096)
        del buffer[:-STDERR_KEEP_BYTES]


def close_channel(channel: paramiko.Channel | None) -> None:
    # Closing a channel of a broken connection may fail in many ways; it is gone either way.
    if channel is not None:
        with contextlib.suppress(Exception):
            channel.close()


def wall_time() -> float:
    return time.time()


def raise_fd_limit() -> int:
    """Each streaming node costs a socket and two pipe fds; lift the soft limit to the hard one."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    except (ImportError, ValueError, OSError):
        return os.sysconf("SC_OPEN_MAX")


def read_turn(channel: paramiko.Channel, into: bytearray, split: Callable[[], bool]) -> bool:
    """Read what ``channel`` has into ``into``, at most READ_TURN_BYTES a turn (a flooding node cannot
    starve the others), calling ``split`` after each chunk so the buffer never holds more than one chunk and
    an unfinished line; False when ``split`` says to stop (the channel was stopped). Raises what the
    channel raises."""
    taken = 0
    while channel.recv_ready() and taken < READ_TURN_BYTES:
        chunk = channel.recv(65536)
        if not chunk:
            break
        taken += len(chunk)
        into += chunk
        if not split():
            return False
    return True
