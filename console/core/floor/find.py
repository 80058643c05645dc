"""Find the box (pure): from a name, an address, a BMC, a GPU's UUID, serial or PCI bus id (also in its
short form, ``18:00.0``), an Ascend NPU id (``npu 3``) or an AMD serial, to the hall row, rack, unit and the
accelerator's place in the chassis — what a technician walking the floor needs.

Matching is on whole values, case-insensitively: ``gpu-01`` does not find ``gpu-010``, so a search names one
box or says it found none (the terminal's ``find`` exits 1 then).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from console.core.inventory import Inventory, NodeSpec
from console.core.telemetry.fleet import NodeView
from console.core.telemetry.samples import NotAvailable

MAX_QUERY: Final = 200
_URL_HOST: Final = re.compile(r"^[a-z][a-z0-9+.-]*://(?:[^@/]*@)?(\[[^\]]+\]|[^/:?#]+)", re.IGNORECASE)
_BUS: Final = re.compile(r"^(?:[0-9a-f]{4,8}:)?([0-9a-f]{2}:[0-9a-f]{2}\.[0-7])$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class BoxMatch:
    """Where a search landed; fields are null where unknown. ``as_json`` is ``find --json``'s contract."""

    query: str
    node: str
    what: str  # which value matched: node, address, bmc, uuid, serial, pci_bus_id, npu
    hall_row: str | None = None
    rack: str | None = None
    unit: int | None = None
    accelerator: int | None = None
    module_id: int | None = None
    uuid: str | None = None
    serial: str | None = None
    pci_bus_id: str | None = None
    bmc: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "node": self.node,
            "hall_row": self.hall_row,
            "rack": self.rack,
            "unit": self.unit,
            "accelerator": self.accelerator,
            "module_id": self.module_id,
            "uuid": self.uuid,
            "serial": self.serial,
            "pci_bus_id": self.pci_bus_id,
            "bmc": self.bmc,
        }

    def words(self) -> str:
        """ "hall row B / rack R12 / unit 17 / GPU 6 (bus 18:00.0)" — where to walk and what to pull."""
        parts = [
            f"hall row {self.hall_row}" if self.hall_row else "hall row ?",
            f"rack {self.rack}" if self.rack else "rack ?",
            f"unit {self.unit}" if self.unit is not None else "unit ?",
        ]
        if self.accelerator is not None:
            where = f"GPU {self.accelerator}"
            if self.module_id is not None:
                where += f", module {self.module_id}"
            if self.pci_bus_id:
                where += f" (bus {short_bus(self.pci_bus_id)})"
            parts.append(where)
        return f"{self.node}: " + " / ".join(parts)


def _text(value: object) -> str | None:
    if value is None or isinstance(value, NotAvailable):
        return None
    text = str(value).strip()
    return text or None


def short_bus(bus: str) -> str:
    """``00000000:18:00.0`` → ``18:00.0`` (what lspci prints)."""
    match = _BUS.match(bus.strip())
    return match.group(1).lower() if match else bus.strip().lower()


def _bmc_host(spec: NodeSpec) -> str | None:
    if spec.bmc is None:
        return None
    match = _URL_HOST.match(spec.bmc.url)  # (no urllib in core: the inventory checked the URL at load)
    return match.group(1).strip("[]") if match else None


def _keys(value: str, bus: bool = False) -> set[str]:
    keys = {value.strip().lower()}
    if bus:
        keys.add(short_bus(value))
    return keys


def find_boxes(query: str, inventory: Inventory, views: Iterable[NodeView]) -> list[BoxMatch]:
    """Every box whose name, address, BMC, or accelerator UUID, serial, PCI bus id or NPU id equals ``query``
    (case-insensitive; a bus id also in its short form)."""
    wanted = query.strip().lower()[:MAX_QUERY]
    if not wanted:
        return []
    bus_wanted = short_bus(wanted) if _BUS.match(wanted) else None
    npu = re.fullmatch(r"npu\s*(\d+)", wanted)
    by_name = {v.name: v for v in views}
    out: list[BoxMatch] = []
    for spec in inventory.nodes:
        rack = inventory.rack(spec.rack)
        base = {
            "query": query.strip(),
            "node": spec.name,
            "hall_row": rack.row if rack else None,
            "rack": spec.rack,
            "unit": spec.slot,
            "bmc": spec.bmc.url if spec.bmc else None,
        }
        for what, value in (("node", spec.name), ("address", spec.host), ("bmc", _bmc_host(spec))):
            if value and wanted in _keys(value):
                out.append(BoxMatch(what=what, **base))  # type: ignore[arg-type]
        view = by_name.get(spec.name)
        if view is None:
            continue
        for accelerator in view.accelerators:
            sample = accelerator.sample
            detail = view.gpu_details.get(sample.index)
            uuid = _text(sample.uuid) or (_text(detail.uuid) if detail else None)
            serial = _text(detail.serial) if detail else None
            bus = _text(sample.pci_bus_id) or (_text(detail.pci_bus_id) if detail else None)
            found = None
            if uuid and wanted in _keys(uuid):
                found = "uuid"
            elif serial and wanted in _keys(serial):
                found = "serial"
            elif bus and (wanted in _keys(bus, bus=True) or (bus_wanted and bus_wanted == short_bus(bus))):
                found = "pci_bus_id"
            elif npu and sample.npu_id is not None and int(npu.group(1)) == sample.npu_id:
                found = "npu"
            if found:
                module = detail.module_id if detail else None
                out.append(
                    BoxMatch(
                        what=found,
                        accelerator=sample.index,
                        module_id=int(module) if isinstance(module, float) else None,
                        uuid=uuid,
                        serial=serial,
                        pci_bus_id=bus,
                        **base,  # type: ignore[arg-type]
                    )
                )
    return out
