"""One verified SSH connection to a node: ~/.ssh/config, ProxyJump, keys/agent, known_hosts with RejectPolicy.

Every failure becomes a :class:`ConnectError` carrying the node state it means and a sentence for the
operator; nothing here prints, retries or touches Qt.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import os
import shlex
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, NoReturn

import paramiko

from console.core.inventory import NodeSpec
from console.core.names import host_problem, parse_jump, user_problem
from console.core.parsers.common import excerpt
from console.core.telemetry.samples import NodeState

DEFAULT_SSH_CONFIG: Final = Path("~/.ssh/config")
DEFAULT_KNOWN_HOSTS: Final = Path("~/.ssh/known_hosts")
# After the handshake the transport thread only needs to wake for keepalives and shutdown; paramiko's
# default of 0.1 s costs ten wake-ups a second per node, which dominates CPU with a thousand nodes.
IDLE_SOCKET_TIMEOUT_S: Final = 2.0
KEEPALIVE_S: Final = 15
# How often a cancellable command checks whether it was cancelled.
CANCEL_CHECK_S: Final = 0.2


class ConnectError(Exception):
    def __init__(self, state: NodeState, message: str, fingerprint: str | None = None) -> None:
        super().__init__(message)
        self.state = state
        self.message = message
        self.fingerprint = fingerprint


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style ``SHA256:…`` fingerprint, as ``ssh-keygen -lf`` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to reach one host, after ~/.ssh/config has been applied."""

    label: str  # the inventory name (or the jump host's alias), for messages
    hostname: str
    port: int
    user: str | None
    key_filenames: tuple[str, ...]
    known_hosts: Path
    timeout_s: float
    jump: tuple[Target, ...] = ()

    @property
    def address(self) -> str:
        return f"{self.hostname}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


@dataclass(slots=True)
class SshSettings:
    ssh_config: Path | None = DEFAULT_SSH_CONFIG
    known_hosts: Path = DEFAULT_KNOWN_HOSTS
    allow_agent: bool = True
    look_for_keys: bool = True
    _config: paramiko.SSHConfig | None = field(default=None, repr=False)

    def config(self) -> paramiko.SSHConfig:
        if self._config is None:
            path = self.ssh_config.expanduser() if self.ssh_config else None
            self._config = paramiko.SSHConfig.from_path(str(path)) if path and path.is_file() else paramiko.SSHConfig()
        return self._config


def resolve(spec: NodeSpec, settings: SshSettings) -> Target:
    return _resolve_host(
        label=spec.name,
        host=spec.host,
        port=spec.port,
        user=spec.user,
        identity_file=spec.identity_file,
        known_hosts=spec.known_hosts,
        proxy_jump=spec.proxy_jump,
        timeout_s=spec.connect_timeout_s,
        settings=settings,
        depth=0,
    )


def _resolve_host(
    *,
    label: str,
    host: str,
    port: int | None,
    user: str | None,
    identity_file: Path | None,
    known_hosts: Path | None,
    proxy_jump: str | None,
    timeout_s: float,
    settings: SshSettings,
    depth: int,
) -> Target:
    if depth > 4:
        raise ConnectError(NodeState.UNREACHABLE, f"ProxyJump chain for {label} is longer than 4 hops")
    # Checked before the lookup: a `Match exec` line expands %h/%r/%u into a local shell command.
    for what, problem in (("host", host_problem(host)), ("user", user_problem(user) if user else None)):
        if problem:
            raise ConnectError(
                NodeState.UNREACHABLE, f"{label}: {what} {(host if what == 'host' else user)!r} {problem}"
            )
    found = settings.config().lookup(host)
    keys = [str(identity_file)] if identity_file else []
    keys += [str(Path(k).expanduser()) for k in found.get("identityfile", [])]
    known = known_hosts or _first_path(found.get("userknownhostsfile")) or settings.known_hosts
    jump_text = proxy_jump or found.get("proxyjump")
    jumps: list[Target] = []
    if jump_text:
        try:
            hops = parse_jump(jump_text)
        except ValueError as exc:
            raise ConnectError(NodeState.UNREACHABLE, f"{label}: {exc}") from None
        for hop in hops:
            jumps.append(
                _resolve_host(
                    label=str(hop),
                    host=hop.host,
                    port=hop.port,
                    user=hop.user,
                    identity_file=identity_file,
                    known_hosts=known_hosts,
                    proxy_jump=None,
                    timeout_s=timeout_s,
                    settings=settings,
                    depth=depth + 1,
                )
            )
    return Target(
        label=label,
        hostname=found.get("hostname", host),
        port=port if port is not None else int(found.get("port", 22)),
        user=user or found.get("user"),
        key_filenames=tuple(keys),
        known_hosts=known.expanduser(),
        timeout_s=float(found.get("connecttimeout", timeout_s)),
        jump=tuple(jumps),
    )


def _first_path(value: str | None) -> Path | None:
    if not value:
        return None
    return Path(value.split()[0])


class KnownHosts:
    """known_hosts files parsed once and re-read only when they change.

    Parsing builds a key object per line; with a thousand nodes in one file, parsing it on every connect
    cost more CPU than the SSH handshake itself. Files are re-read when their mtime or size changes, so an
    operator who fixes a key is picked up at the next retry.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[Path, tuple[tuple[int, int], paramiko.HostKeys]] = {}

    def keys_for(self, path: Path, host: str) -> dict[str, paramiko.PKey]:
        """Key type → key recorded for ``host`` (``[host]:port`` form for other ports)."""
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._files.get(path)
            if cached is None or cached[0] != stamp:
                keys = paramiko.HostKeys()
                keys.load(str(path))
                cached = self._files[path] = (stamp, keys)
            found = cached[1].lookup(host)
            return dict(found) if found is not None else {}


KNOWN_HOSTS = KnownHosts()
# A verified connection, for modules above the transport that hold one without importing paramiko.
SshClient = paramiko.SSHClient


class _RememberingRejectPolicy(paramiko.RejectPolicy):
    """RejectPolicy that keeps the refused key, so the operator sees its fingerprint."""

    def __init__(self) -> None:
        self.refused: paramiko.PKey | None = None

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> NoReturn:
        self.refused = key
        super().missing_host_key(client, hostname, key)


class JumpPool:
    """Shared connections to ProxyJump hosts, one per (host, port, user)."""

    def __init__(self, settings: SshSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, int, str | None], paramiko.SSHClient] = {}

    def channel_to(self, target: Target) -> paramiko.Channel | None:
        sock: paramiko.Channel | None = None
        for i, hop in enumerate(target.jump):
            client = self._client_for(hop, sock)
            next_host = target.jump[i + 1] if i + 1 < len(target.jump) else target
            transport = client.get_transport()
            assert transport is not None
            try:
                sock = transport.open_channel(
                    "direct-tcpip", (next_host.hostname, next_host.port), ("127.0.0.1", 0), timeout=hop.timeout_s
                )
            except (paramiko.SSHException, OSError) as exc:
                raise ConnectError(
                    NodeState.UNREACHABLE,
                    f"jump host {hop.label} could not reach {next_host.address}: {_reason(exc)}",
                ) from None
        return sock

    def _client_for(self, hop: Target, sock: paramiko.Channel | None) -> paramiko.SSHClient:
        key = (hop.hostname, hop.port, hop.user)
        with self._lock:
            client = self._clients.get(key)
            transport = client.get_transport() if client else None
            if client is not None and transport is not None and transport.is_active():
                return client
            try:
                client = connect(hop, self.settings, sock=sock, jump_pool=None)
            except ConnectError as exc:
                raise ConnectError(exc.state, f"jump host {hop.label}: {exc.message}", exc.fingerprint) from None
            self._clients[key] = client
            return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                close_quietly(client)
            self._clients.clear()


def connect(
    target: Target,
    settings: SshSettings,
    *,
    sock: paramiko.Channel | None = None,
    jump_pool: JumpPool | None = None,
) -> paramiko.SSHClient:
    """Open and authenticate; raise :class:`ConnectError` with the node state it means."""
    if sock is None and target.jump:
        if jump_pool is None:
            raise ConnectError(NodeState.UNREACHABLE, "ProxyJump configured but no jump pool given")
        sock = jump_pool.channel_to(target)

    client = paramiko.SSHClient()
    policy = _RememberingRejectPolicy()
    client.set_missing_host_key_policy(policy)
    known_hosts = target.known_hosts
    if known_hosts.is_file():
        try:
            recorded = KNOWN_HOSTS.keys_for(known_hosts, target.known_hosts_name)
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise ConnectError(NodeState.HOST_KEY_UNKNOWN, f"cannot read known_hosts {known_hosts}: {exc}") from None
        # Only this host's entries go to the client: SSHClient checks them (and nothing else) on connect.
        for key_type, key in recorded.items():
            client.get_host_keys().add(target.known_hosts_name, key_type, key)

    try:
        client.connect(
            target.hostname,
            port=target.port,
            username=target.user,
            key_filename=list(target.key_filenames) or None,  # type: ignore[arg-type]  # paramiko takes a list too
            allow_agent=settings.allow_agent,
            look_for_keys=settings.look_for_keys,
            timeout=target.timeout_s,
            banner_timeout=target.timeout_s,
            auth_timeout=target.timeout_s,
            sock=sock,
        )
    except paramiko.BadHostKeyException as exc:
        close_quietly(client)
        raise ConnectError(
            NodeState.HOST_KEY_CHANGED,
            f"HOST KEY CHANGED for {target.known_hosts_name}: known_hosts ({known_hosts}) has "
            f"{exc.expected_key.get_name()} {fingerprint(exc.expected_key)}, the node presented "
            f"{exc.key.get_name()} {fingerprint(exc.key)}. Not connecting: this is what a "
            f"man-in-the-middle looks like. If the node was reinstalled, verify the new key on its console, "
            f"then run: ssh-keygen -R {shlex.quote(target.known_hosts_name)} -f {shlex.quote(str(known_hosts))}",
            fingerprint(exc.key),
        ) from None
    except paramiko.AuthenticationException as exc:
        close_quietly(client)
        who = target.user or "(default user)"
        keys = ", ".join(target.key_filenames) or "agent and default keys"
        raise ConnectError(
            NodeState.AUTH_FAILED, f"authentication failed for {who}@{target.address} with {keys}: {_reason(exc)}"
        ) from None
    except paramiko.SSHException as exc:
        close_quietly(client)
        if policy.refused is not None:
            key = policy.refused
            why = "" if known_hosts.exists() else f" (the file {known_hosts} does not exist)"
            raise ConnectError(
                NodeState.HOST_KEY_UNKNOWN,
                f"host key UNKNOWN: {target.known_hosts_name} is not in {known_hosts}{why}. The node presented "
                f"{key.get_name()} {fingerprint(key)}. Not connecting. Check that fingerprint on the node "
                f"(ssh-keygen -lf /etc/ssh/ssh_host_{_key_file_stem(key)}_key.pub), then add the key "
                f"to known_hosts.",
                fingerprint(key),
            ) from None
        raise ConnectError(NodeState.UNREACHABLE, f"SSH to {target.address} failed: {_reason(exc)}") from None
    except TimeoutError:
        close_quietly(client)
        raise ConnectError(
            NodeState.UNREACHABLE, f"no answer from {target.address} within {target.timeout_s:g} s"
        ) from None
    except OSError as exc:
        close_quietly(client)
        raise ConnectError(NodeState.UNREACHABLE, f"cannot reach {target.address}: {_reason(exc)}") from None
    except EOFError:
        close_quietly(client)
        raise ConnectError(NodeState.UNREACHABLE, f"{target.address} closed the connection during login") from None

    transport = client.get_transport()
    assert transport is not None
    transport.set_keepalive(KEEPALIVE_S)
    if isinstance(transport.sock, socket.socket):
        transport.sock.settimeout(IDLE_SOCKET_TIMEOUT_S)
    return client


@dataclass(frozen=True, slots=True)
class ExecResult:
    exit_status: int | None
    stdout: bytes
    stderr: bytes

    def describe_failure(self) -> str:
        detail = excerpt(self.stderr.decode("utf-8", "replace").strip() or self.stdout.decode("utf-8", "replace"))
        status = "no exit status" if self.exit_status is None else f"exit status {self.exit_status}"
        return f"{status}: {detail}" if detail else status


def exec_once(
    client: paramiko.SSHClient,
    argv: Sequence[str],
    timeout_s: float,
    limit: int = 4 << 20,
    cancel: threading.Event | None = None,
) -> ExecResult:
    """Run one command to completion (argv quoted with ``shlex.join``); bounded in size, and in time for the
    whole call: output that trickles forever (a byte every second) still ends at ``timeout_s``. Setting
    ``cancel`` ends the wait within a fifth of a second (the command may still run on the host)."""
    deadline = time.monotonic() + timeout_s
    transport = client.get_transport()
    if transport is None or not transport.is_active():
        raise ConnectError(NodeState.UNREACHABLE, "connection is closed")
    if cancel is not None and cancel.is_set():
        raise ConnectError(NodeState.COMMAND_FAILED, f"{argv[0]} was not started: stopped")
    channel = transport.open_session(timeout=timeout_s)

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        if cancel is None:
            return left
        if cancel.is_set():
            raise InterruptedError
        return min(left, CANCEL_CHECK_S)

    try:
        channel.settimeout(remaining())
        channel.exec_command(shlex.join(argv))
        channel.shutdown_write()
        stdout, stderr = bytearray(), bytearray()
        try:
            while True:
                channel.settimeout(remaining())
                try:
                    chunk = channel.recv(65536)
                except TimeoutError:
                    if time.monotonic() < deadline and cancel is not None:
                        continue  # a cancel check, not the deadline
                    raise
                if not chunk:
                    break
                if len(stdout) < limit:
                    stdout += chunk
            while channel.recv_stderr_ready() and len(stderr) < 65536:
                stderr += channel.recv_stderr(65536)
            # exit-status may arrive just after EOF; the event is also set when the channel closes without one.
            while not channel.status_event.wait(remaining()):
                pass  # remaining() ends the wait at the deadline or on cancel
        except TimeoutError:
            raise ConnectError(
                NodeState.COMMAND_FAILED, f"{argv[0]} gave no complete answer within {timeout_s:g} s"
            ) from None
        except InterruptedError:
            raise ConnectError(NodeState.COMMAND_FAILED, f"{argv[0]} was stopped before it finished") from None
        status = channel.exit_status if channel.exit_status_ready() and channel.exit_status >= 0 else None
        return ExecResult(status, bytes(stdout), bytes(stderr))
    finally:
        channel.close()


def close_quietly(client: paramiko.SSHClient) -> None:
    transport = client.get_transport()
    if transport is not None and isinstance(transport.sock, socket.socket):
        # Wakes the transport thread out of recv() at once instead of at its next timeout.
        with contextlib.suppress(OSError):
            transport.sock.shutdown(socket.SHUT_RDWR)
    # Closing a broken connection may fail in many ways; it is gone either way.
    with contextlib.suppress(Exception):
        client.close()


def _key_file_stem(key: paramiko.PKey) -> str:
    name = key.get_name()
    if "ed25519" in name:
        return "ed25519"
    if "ecdsa" in name:
        return "ecdsa"
    return "rsa"


# What a failed connect's errno means to the person at the console, where there is more to say than the
# system's own words (the rest are said as the system says them, with the errno's name).
ERRNO_HINTS: Final = {
    errno.ECONNREFUSED: "connection refused (is sshd running?)",
    errno.EHOSTUNREACH: "no route to host (the node or a firewall on the way is down)",
    errno.ENETUNREACH: "network is unreachable (no route from this console to that network)",
    errno.ETIMEDOUT: "connection timed out (no answer: the node is down or a firewall drops the packets)",
    errno.ECONNRESET: "connection reset by the node",
}


def _reason(exc: BaseException) -> str:
    """A failed connect in words, from the real cause: paramiko wraps each address's socket error in one
    NoValidConnectionsError whose own errno is None, so each address's errno is looked at."""
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        causes = list(dict.fromkeys(_errno_words(e) for e in exc.errors.values()))
        return "; ".join(causes) if causes else "connection failed"
    if isinstance(exc, OSError) and (exc.errno is not None or exc.strerror):
        return _errno_words(exc)
    text = str(exc) or type(exc).__name__
    return excerpt(text)


def _errno_words(exc: BaseException) -> str:
    number = getattr(exc, "errno", None)
    if isinstance(number, int):
        if number in ERRNO_HINTS:
            return ERRNO_HINTS[number]
        name = errno.errorcode.get(number, str(number))
        return f"{os.strerror(number).lower()} ({name})"
    return excerpt(str(exc) or type(exc).__name__)
