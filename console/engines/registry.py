"""The engines of one inventory, and the executor that runs plan steps through them."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Protocol

from console.core.actions.planning import Engine, Step
from console.core.actions.runs import StepError, StepResult
from console.core.inventory import Inventory, NodeSpec
from console.engines.redfish import BmcError, RedfishClient
from console.engines.slurm import SlurmEngine
from console.transport.remote import RemoteHost
from console.transport.ssh import ConnectError, ExecResult, JumpPool, SshSettings


class NodeShell(Protocol):
    """Runs a one-off command on a node (the hub does it on the node's existing connection)."""

    def exec(
        self, node: str, argv: Sequence[str], timeout_s: float, cancel: threading.Event | None = None
    ) -> ExecResult: ...


class Engines:
    def __init__(
        self,
        inventory: Inventory,
        ssh: SshSettings,
        shell: NodeShell | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.inventory = inventory
        self.ssh = ssh
        self.shell = shell
        self.environ = environ
        self._jumps = JumpPool(ssh)
        self._lock = threading.Lock()
        self._slurm: SlurmEngine | None = None
        self._bmcs: dict[str, RedfishClient] = {}

    def scheduler(self) -> SlurmEngine | None:
        if self.inventory.scheduler is None:
            return None
        with self._lock:
            if self._slurm is None:
                self._slurm = SlurmEngine(RemoteHost(self.inventory.scheduler, self.ssh, self._jumps))
            return self._slurm

    def bmc(self, node: NodeSpec) -> RedfishClient | None:
        if node.bmc is None:
            return None
        with self._lock:
            client = self._bmcs.get(node.name)
            if client is None:
                client = self._bmcs[node.name] = RedfishClient(node.bmc, node.name, self.environ)
            return client

    def ssh_host(self, node: NodeSpec) -> str:
        user = f"{node.user}@" if node.user else ""
        port = f":{node.port}" if node.port else ""
        return f"{user}{node.host}{port}"

    def close(self) -> None:
        with self._lock:
            if self._slurm is not None:
                self._slurm.remote.close()
        self._jumps.close()


class EngineExecutor:
    """Runs one plan step through its engine; every failure becomes a StepError in words."""

    def __init__(self, engines: Engines) -> None:
        self.engines = engines

    def run(self, step: Step, timeout_s: float, cancel: threading.Event | None = None) -> StepResult:
        if cancel is not None and cancel.is_set():
            raise StepError("stopped before it was sent")
        if step.engine == Engine.REDFISH:
            assert step.http is not None
            bmc = self.engines.bmc(self.engines.inventory.node(step.node))
            if bmc is None:
                raise StepError(f"{step.node} has no BMC")
            try:
                status, body = bmc.execute(step.http, timeout_s)
            except BmcError as exc:
                raise StepError(str(exc)) from None
            return StepResult(0, f"HTTP {status} {body}".strip(), "")
        assert step.argv is not None
        try:
            if step.engine == Engine.SLURM:
                scheduler = self.engines.scheduler()
                if scheduler is None:
                    raise StepError("no scheduler in the inventory")
                result = scheduler.remote.run(step.argv, timeout_s, cancel)
            else:
                if self.engines.shell is None:
                    raise StepError("no SSH connection to the node")
                result = self.engines.shell.exec(step.node, step.argv, timeout_s, cancel)
        except ConnectError as exc:
            raise StepError(exc.message) from None
        return StepResult(
            result.exit_status,
            result.stdout.decode("utf-8", "replace"),
            result.stderr.decode("utf-8", "replace"),
        )
