"""The stream hub: one SSH connection and one long-lived command per node, all read by one selector thread.

paramiko needs a thread per connection for its transport; everything else is here:
- a small pool connects (and reconnects, with exponential backoff and jitter) without blocking anyone;
- one selector thread reads every channel, splits bytes into lines and hands them on;
- a node with no line for ``stale_after_s`` is stale; one silent for ``restart_after_s`` is reconnected,
  so a node that died without closing its TCP connection is found out too;
- a channel that ends while its connection lives is restarted (its exit status and stderr become the
  node's error).
Consumers get two callbacks, from the selector or pool threads: ``on_state`` and ``on_lines``.

Beside the telemetry command, a node may have a second, mostly idle channel on the same connection that
follows its kernel log (``follow_argv_for``): read by the same selector (no thread), restarted after a
backoff when it ends, re-opened from where it stopped after a reconnect. Its lines go to
``on_kernel_lines``, its condition in words to ``on_kernel_state``; it never changes the node's state.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import shlex
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import paramiko

from console.core.backoff import Backoff
from console.core.inventory import NodeSpec
from console.core.telemetry.samples import NodeState
from console.core.telemetry.sources import describe_exit
from console.transport import hub_follow
from console.transport.hub_links import (
    MAX_LINE_BYTES,
    HubListener,
    HubSettings,
    KernelFollow,
    LineBudget,
    NodeLink,
    close_channel,
    keep_stderr,
    read_turn,
    wall_time,
)
from console.transport.ssh import (
    ConnectError,
    ExecResult,
    JumpPool,
    SshSettings,
    close_quietly,
    connect,
    exec_once,
    fingerprint,
    resolve,
)

log = logging.getLogger(__name__)


class StreamHub:
    # Bound from .work.main.console.transport.hub_follow.
    _open_follow = hub_follow._open_follow
    _take_follow_inbox = hub_follow._take_follow_inbox
    _read_follow = hub_follow._read_follow
    _split_follow = hub_follow._split_follow
    _follow_ended = hub_follow._follow_ended
    _close_follow = hub_follow._close_follow

    def __init__(
        self,
        specs: Sequence[NodeSpec],
        argv_for: Callable[[NodeSpec], list[str]],
        listener: HubListener,
        name_for: Callable[[NodeSpec], str] | None = None,
        ssh: SshSettings | None = None,
        settings: HubSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        follow_argv_for: Callable[[NodeSpec, float | None], list[str] | None] | None = None,
    ) -> None:
        self.settings = settings or HubSettings()
        self.ssh = ssh or SshSettings()
        self.listener = listener
        self._clock = clock
        self._links = {
            spec.name: NodeLink(
                spec=spec,
                argv=argv_for(spec),
                label=name_for(spec) if name_for else argv_for(spec)[0],
                backoff=Backoff(base_s=self.settings.backoff_base_s, cap_s=self.settings.backoff_cap_s),
                budget=LineBudget(self.settings.max_lines_per_s, self.settings.max_lines_per_s),
                byte_budget=LineBudget(self.settings.max_bytes_per_s, 2 * self.settings.max_bytes_per_s),
            )
            for spec in specs
        }
        self._follow_argv_for = follow_argv_for
        self._follows_opening = 0  # selector thread only
        if follow_argv_for is not None:
            for link in self._links.values():
                if follow_argv_for(link.spec, None) is not None:
                    link.follow = KernelFollow(
                        link,
                        Backoff(base_s=self.settings.follow_backoff_base_s, cap_s=self.settings.follow_backoff_cap_s),
                    )
        self._jumps = JumpPool(self.ssh)
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._inbox: list[tuple[NodeLink, paramiko.SSHClient | None, paramiko.Channel | None, ConnectError | None]] = []
        self._follow_inbox: list[tuple[KernelFollow, paramiko.SSHClient, paramiko.Channel | None, str | None]] = []
        self._inbox_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=self.settings.connect_workers, thread_name_prefix="ssh-connect")
        self._thread = threading.Thread(target=self._run, name="ssh-selector", daemon=True)
        self._running = False

    # --- public ------------------------------------------------------------------------------------

    def start(self) -> None:
        self._running = True
        for link in self._links.values():
            self._emit(link, NodeState.CONNECTING, None)
        self._thread.start()

    def stop(self) -> None:
        with self._inbox_lock:
            self._running = False
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        # Connects under way are not waited for (one to an address that never answers takes its whole
        # connect timeout): each closes its own connection when it returns (see _post).
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._inbox_lock:
            late, self._inbox = self._inbox, []
            self._follow_inbox.clear()
        for _, client, _, _ in late:
            if client is not None:
                close_quietly(client)
        for link in self._links.values():
            self._drop(link)
        self._jumps.close()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def reconnect(self, node: str) -> None:
        """Operator asked to retry now (e.g. after fixing known_hosts)."""
        link = self._links[node]
        link.backoff.reset()
        link.next_attempt = 0.0
        self._wake()

    def exec(
        self, node: str, argv: Sequence[str], timeout_s: float, cancel: threading.Event | None = None
    ) -> ExecResult:
        """Run a one-off command on the node's existing connection (a second channel beside the stream);
        ``timeout_s`` bounds the whole call, ``cancel`` ends it early."""
        link = self._links.get(node)
        client = link.client if link is not None else None
        if client is None:
            state = link.state.value if link is not None else "not streamed"
            raise ConnectError(NodeState.UNREACHABLE, f"{node} is {state}: no SSH connection to run {argv[0]} on")
        try:
            return exec_once(client, argv, timeout_s, cancel=cancel)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectError(
                NodeState.UNREACHABLE, f"{node}: the connection failed while running {argv[0]}: {exc}"
            ) from None

    # --- selector thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        next_tick = 0.0
        while self._running:
            timeout = max(0.0, next_tick - self._clock())
            ready = self._selector.select(timeout=timeout)
            for key, _ in ready:
                if key.data is None:
                    self._drain_wake()
                elif isinstance(key.data, KernelFollow):
                    self._read_follow(key.data)
                else:
                    self._read(key.data)
            if ready and self.settings.gather_s > 0:
                time.sleep(self.settings.gather_s)
            self._take_inbox()
            self._take_follow_inbox()
            now = self._clock()
            if now >= next_tick:
                self._tick(now)
                next_tick = now + self.settings.tick_s

    def _tick(self, now: float) -> None:
        # Follows start a few at a time, so that connecting a thousand nodes is not slowed by them.
        follow_slots = max(1, self.settings.connect_workers // 4) - self._follows_opening
        for link in self._links.values():
            follow = link.follow
            if follow is not None:
                if follow.eof_at is not None:
                    channel = follow.channel
                    if channel is None or channel.closed or channel.exit_status_ready() or now - follow.eof_at > 2.0:
                        self._follow_ended(follow)
                elif (
                    follow.channel is None
                    and not follow.opening
                    and follow_slots > 0
                    and now >= follow.next_attempt
                    and link.client is not None
                    and link.state in (NodeState.UP, NodeState.STALE)
                ):
                    follow.opening = True
                    follow_slots -= 1
                    self._follows_opening += 1
                    self._pool.submit(self._open_follow, follow, link.client)
            if link.eof_at is not None:
                channel = link.channel
                assert channel is not None
                # sshd sends EOF, exit-status and close in an order of its choosing; wait briefly for all.
                if channel.closed or channel.exit_status_ready() or now - link.eof_at > 2.0:
                    self._channel_ended(link)
            elif link.channel is not None:
                silent = now - max(link.last_line, link.channel_started)
                transport = link.client.get_transport() if link.client else None
                if transport is None or not transport.is_active():
                    self._lost(link, "connection lost")
                elif silent > self.settings.restart_after_s:
                    self._lost(link, f"no telemetry for {silent:.0f} s; reconnecting")
                elif silent > self.settings.stale_after_s and link.state == NodeState.UP:
                    self._emit(link, NodeState.STALE, f"no telemetry line for {silent:.0f} s")
            elif not link.connecting and now >= link.next_attempt:
                link.connecting = True
                if link.client is not None:
                    self._pool.submit(self._restart_channel, link, link.client)
                else:
                    self._pool.submit(self._connect, link)

    def _read(self, link: NodeLink) -> None:
        channel = link.channel
        if channel is None:
            return
        now = self._clock()

        def split() -> bool:
            self._split_lines(link, now)
            return link.channel is channel  # False: stopped for flooding

        try:
            if not read_turn(channel, link.buffer, split):
                return
            keep_stderr(channel, link.stderr)
        except (OSError, paramiko.SSHException) as exc:
            self._lost(link, f"read failed: {exc}")
            return
        if channel.closed or channel.eof_received:
            if channel.closed or channel.exit_status_ready():
                self._channel_ended(link)
            else:
                # The pipe stays readable after EOF; stop selecting on it until the channel closes.
                self._selector.unregister(channel)
                link.eof_at = now

    def _split_lines(self, link: NodeLink, now: float) -> None:
        buffer = link.buffer
        cut = buffer.rfind(b"\n")
        if cut < 0:
            if len(buffer) > MAX_LINE_BYTES:
                # A line that never ends is hostile or broken output; keep the node's memory bounded. Its
                # excerpt counts against the node's budget like any line.
                lines = self._within_budget(link, [bytes(buffer[:200]).decode("utf-8", "replace")], now)
                buffer.clear()
                if lines:
                    self.listener.on_lines(link.name, lines, wall_time())
            return
        complete = bytes(buffer[:cut])
        del buffer[: cut + 1]
        lines = complete.decode("utf-8", "replace").splitlines()
        lines = self._within_budget(link, lines, now)
        if link.channel is None:
            return  # stopped for flooding
        link.last_line = now
        if link.streaming_since is None:
            link.streaming_since = now
        elif link.backoff.attempts and now - link.streaming_since >= self.settings.healthy_after_s:
            link.backoff.reset()  # healthy for a while: the next drop is retried at once, not after minutes
        if link.state != NodeState.UP:
            self._emit(link, NodeState.UP, None)
        if lines:  # empty when every line of this chunk was over the node's budget
            self.listener.on_lines(link.name, lines, wall_time())

    def _within_budget(self, link: NodeLink, lines: list[str], now: float) -> list[str]:
        """The lines this node may send now (token buckets of lines and of bytes); a node over budget again and
        again for ``flood_grace_s`` (in one stream or in bursts) has its command stopped, and is said to
        flood, so one node cannot eat the console's memory or CPU, nor keep its neighbours waiting."""
        allowed = link.budget.take(len(lines), now)
        room = link.byte_budget.available(now)
        taken = lines[:allowed] if allowed < len(lines) else lines
        spent, kept = sum(map(len, taken)) + len(taken), len(taken)  # the usual case: all of it fits, summed in C
        if spent > room:  # line by line, up to the room left
            spent = kept = 0
            for line in taken:
                if spent + len(line) + 1 > room:
                    break
                spent += len(line) + 1
                kept += 1
        link.byte_budget.tokens -= spent
        if kept == len(lines):
            if link.flooding_since is not None and now - link.over_at > self.settings.flood_grace_s:
                link.flooding_since = None  # within budget for a while: what it printed was a burst, not a flood
            return lines
        link.dropped += len(lines) - kept
        link.over_at = now
        if link.flooding_since is None:
            link.flooding_since = now
        elif now - link.flooding_since > self.settings.flood_grace_s:
            self._flooded(link)
            return []
        return lines[:kept]

    def _flooded(self, link: NodeLink) -> None:
        dropped, link.dropped = link.dropped, 0
        link.flooding_since = None
        self._unregister(link)
        delay = max(link.backoff.next_delay(), 10.0)
        link.next_attempt = self._clock() + delay
        self._emit(
            link,
            NodeState.COMMAND_FAILED,
            f"{link.label} printed more than {self.settings.max_lines_per_s:g} lines or "
            f"{self.settings.max_bytes_per_s / (1 << 20):g} MiB a second, again and again for "
            f"{self.settings.flood_grace_s:g} s ({dropped} lines dropped): flooding, stopped reading it; "
            f"restarting in {delay:.0f} s",
        )

    def _channel_ended(self, link: NodeLink) -> None:
        channel = link.channel
        assert channel is not None
        status = channel.recv_exit_status() if channel.exit_status_ready() else None
        with contextlib.suppress(OSError, paramiko.SSHException):
            keep_stderr(channel, link.stderr)
        stderr = bytes(link.stderr).decode("utf-8", "replace")
        self._unregister(link)
        message = describe_exit(link.label, status, stderr)
        transport = link.client.get_transport() if link.client else None
        if transport is None or not transport.is_active():
            self._lost(link, "connection lost")
            return
        # The connection stays; the tick restarts only the command once the delay is over.
        delay = link.backoff.next_delay()
        link.next_attempt = self._clock() + delay
        self._emit(link, NodeState.COMMAND_FAILED, f"{message}; restarting in {delay:.0f} s")

    def _lost(self, link: NodeLink, reason: str) -> None:
        self._drop(link)
        delay = link.backoff.next_delay()
        link.next_attempt = self._clock() + delay
        self._emit(link, NodeState.UNREACHABLE, f"{reason}; retrying in {delay:.0f} s")

    def _drop(self, link: NodeLink) -> None:
        self._unregister(link)
        if link.follow is not None:
            self._close_follow(link.follow)
        if link.client is not None:
            close_quietly(link.client)
            link.client = None

    def _unregister(self, link: NodeLink) -> None:
        if link.channel is not None:
            if link.eof_at is None:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(link.channel)
            link.eof_at = None
            with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                link.channel.close()
            link.channel = None
        link.streaming_since = None
        link.buffer.clear()
        link.stderr.clear()

    # --- the followed kernel log (selector thread, except _open_follow) ------------------------------------

    # --- connect workers ---------------------------------------------------------------------------------

    def _connect(self, link: NodeLink) -> None:
        if not self._running:
            return
        try:
            if link.target is None:
                link.target = resolve(link.spec, self.ssh)
            client = connect(link.target, self.ssh, jump_pool=self._jumps)
        except ConnectError as exc:
            self._post(link, None, None, exc)
            return
        except Exception as exc:
            log.exception("unexpected error connecting to %s", link.name)
            self._post(link, None, None, ConnectError(NodeState.UNREACHABLE, f"unexpected error: {exc!r}"))
            return
        try:
            channel = self._open_channel(link, client)
        except ConnectError as exc:
            close_quietly(client)
            self._post(link, None, None, exc)
            return
        self._post(link, client, channel, None)

    def _restart_channel(self, link: NodeLink, client: paramiko.SSHClient) -> None:
        try:
            channel = self._open_channel(link, client)
        except ConnectError as exc:
            self._post(link, None, None, exc)
            return
        self._post(link, client, channel, None)

    def _open_channel(
        self, link: NodeLink, client: paramiko.SSHClient, argv: Sequence[str] | None = None, label: str | None = None
    ) -> paramiko.Channel:
        """A second (or first) channel on the node's connection running ``argv`` (default: its telemetry
        command), non-blocking, with the pipe the selector waits on; ConnectError naming ``label``."""
        transport = client.get_transport()
        timeout = link.target.timeout_s if link.target else 10.0
        channel: paramiko.Channel | None = None
        try:
            if transport is None:
                raise paramiko.SSHException("connection is closed")
            channel = transport.open_session(timeout=timeout)
            channel.exec_command(shlex.join(link.argv if argv is None else argv))
            channel.setblocking(False)
            channel.fileno()  # creates the pipe the selector waits on, before any data arrives
        except (paramiko.SSHException, OSError, EOFError) as exc:
            close_channel(channel)
            raise ConnectError(NodeState.UNREACHABLE, f"could not start {label or link.label}: {exc}") from None
        return channel

    def _post(
        self,
        link: NodeLink,
        client: paramiko.SSHClient | None,
        channel: paramiko.Channel | None,
        error: ConnectError | None,
    ) -> None:
        with self._inbox_lock:
            if not self._running:
                if client is not None:
                    close_quietly(client)
                return
            self._inbox.append((link, client, channel, error))
        self._wake()

    # --- selector thread: results of connect workers ---------------------------------------------------

    def _take_inbox(self) -> None:
        with self._inbox_lock:
            items, self._inbox = self._inbox, []
        for link, client, channel, error in items:
            link.connecting = False
            if not self._running:
                if client is not None:
                    close_quietly(client)
                continue
            if error is not None:
                if client is None and link.client is not None:
                    self._drop(link)
                delay = link.backoff.next_delay()
                if error.state in (NodeState.HOST_KEY_CHANGED, NodeState.HOST_KEY_UNKNOWN, NodeState.AUTH_FAILED):
                    # These need a person; retry slowly in case someone fixes known_hosts or keys meanwhile.
                    delay = max(delay, min(self.settings.backoff_cap_s, 30.0))
                link.next_attempt = self._clock() + delay
                self._emit(link, error.state, f"{error.message} (retrying in {delay:.0f} s)", error.fingerprint)
                continue
            assert channel is not None and client is not None
            link.client = client
            link.channel = channel
            link.channel_started = self._clock()
            link.last_line = 0.0
            link.budget.reset(link.channel_started)
            link.byte_budget.reset(link.channel_started)
            link.flooding_since = None
            self._selector.register(channel, selectors.EVENT_READ, link)
            transport = client.get_transport()
            if transport is not None:
                link.fingerprint = fingerprint(transport.get_remote_server_key())
            # Data that arrived before registration set the pipe already, so nothing is lost.

    # --- helpers -------------------------------------------------------------------------------------

    def _emit(self, link: NodeLink, state: NodeState, error: str | None, fingerprint: str | None = None) -> None:
        link.state = state
        link.error = error
        if fingerprint is not None:
            link.fingerprint = fingerprint
        self.listener.on_state(link.name, state, error, link.fingerprint)

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
