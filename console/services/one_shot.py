"""One reading from every node (``poll --once``): connect, run the telemetry command once and the slow
path's look on the same connection, in parallel; each node ends up or failed with its reason."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from console.core.alerts.config import AlertRules
from console.core.alerts.rules import AlertEngine
from console.core.inventory import Inventory, NodeSpec
from console.core.telemetry.details import detail_argv, parse_detail_output
from console.core.telemetry.fleet import FleetModel
from console.core.telemetry.samples import NodeState
from console.core.telemetry.sources import TelemetrySource, describe_exit
from console.core.vendors import sources_for
from console.transport.ssh import (
    ConnectError,
    JumpPool,
    SshClient,
    SshSettings,
    close_quietly,
    connect,
    exec_once,
    fingerprint,
    resolve,
)


def poll_once(  # noqa: PLR0915 - one reading per node with its nested steps, kept in one place
    inventory: Inventory,
    ssh: SshSettings | None = None,
    timeout_s: float = 20.0,
    workers: int = 32,
    clock: Callable[[], float] = time.time,
    alert_rules: AlertRules | None = None,
) -> FleetModel:
    """One reading from every node, in parallel; each node ends up/failed with its reason."""
    ssh = ssh or SshSettings()
    fleet = FleetModel(inventory, clock=clock)
    sources = sources_for(inventory.nodes)
    jumps = JumpPool(ssh)
    stopping = threading.Event()
    open_clients: set[SshClient] = set()
    clients_lock = threading.Lock()

    def one(spec: NodeSpec) -> None:
        source = sources[spec.name]
        fleet.set_source(spec.name, source.name, source.vendor)
        if stopping.is_set():
            return
        try:
            client = connect(resolve(spec, ssh), ssh, jump_pool=jumps)
        except ConnectError as exc:
            fleet.set_state(spec.name, exc.state, exc.message, exc.fingerprint)
            return
        with clients_lock:
            if stopping.is_set():
                close_quietly(client)
                return
            open_clients.add(client)
        try:
            read(spec, source, client)
        finally:
            with clients_lock:
                open_clients.discard(client)
            close_quietly(client)

    def read(spec: NodeSpec, source: TelemetrySource, client: SshClient) -> None:
        try:
            transport = client.get_transport()
            key_print = fingerprint(transport.get_remote_server_key()) if transport else None
            result = exec_once(client, source.once_argv, timeout_s, cancel=stopping)
        except ConnectError as exc:
            fleet.set_state(spec.name, exc.state, exc.message)
            return
        stdout = result.stdout.decode("utf-8", "replace")
        if result.exit_status != 0:
            fleet.set_state(
                spec.name,
                NodeState.COMMAND_FAILED,
                describe_exit(source.name, result.exit_status, result.stderr.decode("utf-8", "replace") or stdout),
                key_print,
            )
            return
        parser = source.make_parser()
        parsed = parser.parse_lines(stdout.splitlines()) + parser.finish()
        if not any(p.sample is not None or p.error is not None for p in parsed):
            fleet.set_state(spec.name, NodeState.COMMAND_FAILED, f"{source.name} printed nothing", key_print)
            return
        fleet.set_state(spec.name, NodeState.UP, None, key_print)
        fleet.ingest(spec.name, parsed, clock())
        # The slow path on the same connection: ECC, remapped rows, XIDs in the last hour, node health.
        detected = next((p.detected[1] for p in parsed if p.detected is not None), source.vendor)
        started = clock()
        try:
            details = exec_once(client, detail_argv(detected, started - 3600), timeout_s, cancel=stopping)
        except ConnectError:
            return  # the reading above stands
        fleet.apply_report(spec.name, parse_detail_output(details.stdout.decode("utf-8", "replace"), started))

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="poll")
    try:
        list(pool.map(one, inventory.nodes))
    except BaseException:
        # Interrupted (Ctrl+C, SIGTERM): drop what has not started, end what waits on a node, do not wait
        # for connects still under way (they close their connection when they return).
        stopping.set()
        pool.shutdown(wait=False, cancel_futures=True)
        with clients_lock:
            for client in open_clients:
                close_quietly(client)
        raise
    finally:
        pool.shutdown(wait=False)
        jumps.close()
    # One look: rules that need a condition to last (temperature for 30 s …) cannot fire in a single reading.
    fleet.evaluate_alerts(AlertEngine(alert_rules, clock=clock))
    return fleet
