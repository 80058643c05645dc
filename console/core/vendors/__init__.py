"""One module per vendor (glances' one plugin per data source): its telemetry command or script, its parser,
what its slow path reads and whether its kernel log is followed. ``source_for`` picks one per node."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from console.core.telemetry.samples import Vendor
from console.core.telemetry.sources import TelemetrySource
from console.core.vendors.amd import AMD_SMI
from console.core.vendors.ascend import NPU_SMI
from console.core.vendors.auto import AUTO
from console.core.vendors.nvidia import NVIDIA_SMI

if TYPE_CHECKING:
    from console.core.inventory import NodeSpec

__all__ = ["AMD_SMI", "AUTO", "NPU_SMI", "NVIDIA_SMI", "source_for", "sources_for"]


def source_for(vendor: Vendor) -> TelemetrySource:
    """The telemetry source for a node's declared vendor (``auto`` detects the tool on the node)."""
    return {Vendor.NVIDIA: NVIDIA_SMI, Vendor.ASCEND: NPU_SMI, Vendor.AMD: AMD_SMI, Vendor.AUTO: AUTO}[vendor]


def sources_for(nodes: Iterable[NodeSpec]) -> dict[str, TelemetrySource]:
    """The telemetry source of every node, by name, from its vendor."""
    return {spec.name: source_for(spec.vendor) for spec in nodes}
