"""A host the console runs one-off commands on (the scheduler's control host): one verified connection,
kept and reused, re-opened when it has dropped."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import paramiko

from console.core.inventory import NodeSpec
from console.core.telemetry.samples import NodeState
from console.transport.ssh import (
    ConnectError,
    ExecResult,
    JumpPool,
    SshSettings,
    Target,
    close_quietly,
    connect,
    exec_once,
    resolve,
)


class RemoteHost:
    def __init__(self, spec: NodeSpec, ssh: SshSettings, jumps: JumpPool | None = None) -> None:
        self.spec = spec
        self.ssh = ssh
        self.jumps = jumps or JumpPool(ssh)
        self._lock = threading.Lock()
        self._client: paramiko.SSHClient | None = None
        self._target: Target | None = None

    @property
    def label(self) -> str:
        user = f"{self.spec.user}@" if self.spec.user else ""
        port = f":{self.spec.port}" if self.spec.port else ""
        return f"{user}{self.spec.host}{port}"

    def _connected(self) -> paramiko.SSHClient:
        with self._lock:
            transport = self._client.get_transport() if self._client else None
            if self._client is not None and transport is not None and transport.is_active():
                return self._client
            if self._client is not None:
                close_quietly(self._client)
                self._client = None
            if self._target is None:
                self._target = resolve(self.spec, self.ssh)
            self._client = connect(self._target, self.ssh, jump_pool=self.jumps)
            return self._client

    def run(self, argv: Sequence[str], timeout_s: float, cancel: threading.Event | None = None) -> ExecResult:
        """Run argv (quoted with shlex.join) and wait for it, ``timeout_s`` at most for the whole call;
        ConnectError when the host cannot be reached."""
        deadline = time.monotonic() + timeout_s
        client = self._connected()
        try:
            return exec_once(client, argv, timeout_s, cancel=cancel)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            # The kept connection died under us: one fresh try, then give up with the reason.
            with self._lock:
                if self._client is client:
                    close_quietly(client)
                    self._client = None
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConnectError(NodeState.UNREACHABLE, f"{self.label}: {exc}") from None
            try:
                return exec_once(self._connected(), argv, left, cancel=cancel)
            except (paramiko.SSHException, EOFError, OSError) as again:
                raise ConnectError(NodeState.UNREACHABLE, f"{self.label}: {again or exc}") from None

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                close_quietly(self._client)
                self._client = None
