"""The stream hub's second channel per node: the kernel log followed on the node's own connection, read by
the same selector (no thread of its own), its lines budgeted, restarted after a backoff when it ends and
re-opened from where it stopped after a reconnect. Functions of the hub, bound as its methods."""

from __future__ import annotations

import contextlib
import selectors
from typing import TYPE_CHECKING

import paramiko

from console.core.telemetry.sources import describe_exit
from console.transport.hub_links import (
    FOLLOW_TOOL_PREFIX,
    KERNEL_LINES_PER_S,
    MAX_LINE_BYTES,
    KernelFollow,
    close_channel,
    keep_stderr,
    read_turn,
    wall_time,
)
from console.transport.ssh import (
    ConnectError,
)

if TYPE_CHECKING:
    from console.transport.hub import StreamHub


def _open_follow(hub: StreamHub, follow: KernelFollow, client: paramiko.SSHClient) -> None:
    """A pool worker: start following the kernel log on the node's connection."""
    assert hub._follow_argv_for is not None
    # From a little before the last line read (repeats are dropped downstream); None: the first time.
    argv = hub._follow_argv_for(follow.link.spec, follow.since - 5.0 if follow.since is not None else None)
    assert argv is not None  # a node gets a KernelFollow only where it has a follow command
    error: str | None = None
    channel: paramiko.Channel | None = None
    try:
        channel = hub._open_channel(follow.link, client, argv, "following the kernel log")
    except ConnectError as exc:
        error = exc.message
    with hub._inbox_lock:
        if not hub._running:
            close_channel(channel)
            return
        hub._follow_inbox.append((follow, client, channel, error))
    hub._wake()


def _take_follow_inbox(hub: StreamHub) -> None:
    with hub._inbox_lock:
        items, hub._follow_inbox = hub._follow_inbox, []
    for follow, client, channel, error in items:
        follow.opening = False
        hub._follows_opening -= 1
        if channel is None or follow.link.client is not client:
            close_channel(channel)  # where the connection changed meanwhile
            follow.next_attempt = hub._clock() + follow.backoff.next_delay()
            if error is not None:
                hub.listener.on_kernel_state(follow.link.name, f"unavailable: {error}")
            continue
        follow.channel = channel
        follow.budget.reset(hub._clock())
        hub._selector.register(channel, selectors.EVENT_READ, follow)


def _read_follow(hub: StreamHub, follow: KernelFollow) -> None:
    channel = follow.channel
    if channel is None:
        return

    def split() -> bool:
        hub._split_follow(follow)
        return True

    try:
        read_turn(channel, follow.buffer, split)
        keep_stderr(channel, follow.stderr)
    except (OSError, paramiko.SSHException):
        hub._close_follow(follow)  # the connection's own reader finds out what happened
        follow.next_attempt = hub._clock() + follow.backoff.next_delay()
        return
    if channel.closed or channel.eof_received:
        if channel.closed or channel.exit_status_ready():
            hub._follow_ended(follow)
        else:
            hub._selector.unregister(channel)
            follow.eof_at = hub._clock()


def _split_follow(hub: StreamHub, follow: KernelFollow) -> None:
    buffer = follow.buffer
    cut = buffer.rfind(b"\n")
    if cut < 0:
        if len(buffer) > MAX_LINE_BYTES:
            buffer.clear()  # a line that never ends: not a kernel message
        return
    complete = bytes(buffer[:cut])
    del buffer[: cut + 1]
    raw = complete.split(b"\n")
    if raw and raw[0].startswith(FOLLOW_TOOL_PREFIX):
        follow.tool = raw.pop(0)[len(FOLLOW_TOOL_PREFIX) :].decode("utf-8", "replace").strip()[:40] or "?"
        follow.backoff.reset()
        hub.listener.on_kernel_state(follow.link.name, f"following ({follow.tool})")
    follow.since = wall_time()
    allowed = follow.budget.take(len(raw), hub._clock())
    if allowed < len(raw):
        follow.dropped += len(raw) - allowed
        hub.listener.on_kernel_state(
            follow.link.name,
            f"following ({follow.tool}); {follow.dropped} lines dropped (more than {KERNEL_LINES_PER_S:g} a second)",
        )
    lines = [line[:MAX_LINE_BYTES].decode("utf-8", "replace") for line in raw[:allowed]]
    if lines:
        hub.listener.on_kernel_lines(follow.link.name, lines, follow.since)


def _follow_ended(hub: StreamHub, follow: KernelFollow) -> None:
    channel = follow.channel
    status = channel.recv_exit_status() if channel is not None and channel.exit_status_ready() else None
    if channel is not None:
        with contextlib.suppress(OSError, paramiko.SSHException):
            keep_stderr(channel, follow.stderr)
    stderr = bytes(follow.stderr).decode("utf-8", "replace")
    hub._close_follow(follow)
    delay = follow.backoff.next_delay()
    follow.next_attempt = hub._clock() + delay
    words = describe_exit(follow.tool, status, stderr)
    lowered = stderr.lower()
    kind = "no permission" if "not permitted" in lowered or "permission denied" in lowered else "unavailable"
    hub.listener.on_kernel_state(follow.link.name, f"{kind}: {words}; trying again in {delay:.0f} s")


def _close_follow(hub: StreamHub, follow: KernelFollow) -> None:
    if follow.channel is not None:
        if follow.eof_at is None:
            with contextlib.suppress(KeyError, ValueError):
                hub._selector.unregister(follow.channel)
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            follow.channel.close()
        follow.channel = None
    follow.eof_at = None
    follow.buffer.clear()
    follow.stderr.clear()
    follow.tool = "the kernel log"
