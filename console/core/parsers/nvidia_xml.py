"""``nvidia-smi -q -x`` → per-GPU health details, across driver generations.

Element names changed over the years (``clocks_throttle_reasons`` became ``clocks_event_reasons``; ECC
counters went from ``single_bit``/``double_bit`` to ``sram_*``/``dram_*``; ``remapped_rows`` appeared with
Ampere; ``power_readings`` became ``gpu_power_readings``): each value is looked up by every name it has
had, and anything missing is "not available". Malformed or cut XML is an error in words, never a crash.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from console.core.parsers.common import FieldError, excerpt, parse_number, parse_text
from console.core.telemetry.samples import NA, NotAvailable, Reading, Text


@dataclass(frozen=True, slots=True)
class GpuDetail:
    index: int
    uuid: Text = NA
    serial: Text = NA
    product_name: Text = NA
    pci_bus_id: Text = NA
    vbios_version: Text = NA
    persistence_mode: Text = NA
    pcie_gen_current: Reading = NA
    pcie_gen_max: Reading = NA
    pcie_width_current: Reading = NA
    pcie_width_max: Reading = NA
    throttle_reasons: tuple[str, ...] = ()
    ecc_mode: Text = NA
    ecc_corrected_volatile: Reading = NA
    ecc_uncorrected_volatile: Reading = NA
    ecc_corrected_aggregate: Reading = NA
    ecc_uncorrected_aggregate: Reading = NA
    retired_pages_single: Reading = NA
    retired_pages_double: Reading = NA
    retired_pages_pending: Text = NA
    remapped_rows_correctable: Reading = NA
    remapped_rows_uncorrectable: Reading = NA
    remapped_rows_pending: Text = NA
    remapped_rows_failure: Text = NA
    power_limit_w: Reading = NA
    mig_mode: Text = NA
    # The GPU's module (its place in the chassis: the HGX baseboard's slot), where the driver reports it.
    module_id: Reading = NA

    @property
    def retired_or_remapped_pending(self) -> bool | None:
        """True when rows/pages wait for a GPU reset to be remapped/retired; None when unknown."""
        answers = [v for v in (self.retired_pages_pending, self.remapped_rows_pending) if isinstance(v, str)]
        if not answers:
            return None
        return any(v.lower() == "yes" for v in answers)


@dataclass(frozen=True, slots=True)
class NvidiaQuery:
    driver_version: Text = NA
    cuda_version: Text = NA
    gpus: tuple[GpuDetail, ...] = ()
    error: str | None = field(default=None)


def _text(element: ET.Element | None, *paths: str) -> Text:
    for path in paths:
        found = element.find(path) if element is not None else None
        if found is not None and found.text is not None and found.text.strip():
            value = found.text.strip()
            return parse_text(value)
    return NA


def _number(element: ET.Element | None, *paths: str) -> Reading:
    value = _text(element, *paths)
    if isinstance(value, NotAvailable):
        return value
    try:
        return parse_number(value.rstrip("x"), paths[0])
    except FieldError:
        return NotAvailable(value)


def _sum(*values: Reading) -> Reading:
    numbers = [v for v in values if not isinstance(v, NotAvailable)]
    return sum(numbers) if numbers else NA


def _ecc(gpu: ET.Element, scope: str) -> tuple[Reading, Reading]:
    """(corrected, uncorrected) totals of one ECC scope (volatile or aggregate), old or new schema."""
    base = f"ecc_errors/{scope}"
    if gpu.find(f"{base}/single_bit") is not None:
        return _number(gpu, f"{base}/single_bit/total"), _number(gpu, f"{base}/double_bit/total")
    corrected = _sum(_number(gpu, f"{base}/sram_correctable"), _number(gpu, f"{base}/dram_correctable"))
    uncorrected = _sum(_number(gpu, f"{base}/sram_uncorrectable"), _number(gpu, f"{base}/dram_uncorrectable"))
    return corrected, uncorrected


def _throttle(gpu: ET.Element) -> tuple[str, ...]:
    for container, prefix in (
        ("clocks_event_reasons", "clocks_event_reason_"),
        ("clocks_throttle_reasons", "clocks_throttle_reason_"),
    ):
        element = gpu.find(container)
        if element is not None:
            return tuple(
                child.tag.removeprefix(prefix)
                for child in element
                if (child.text or "").strip() == "Active" and child.tag.removeprefix(prefix) != "gpu_idle"
            )
    return ()


def parse_nvidia_xml(text: str) -> NvidiaQuery:
    try:
        root = ET.fromstring(text)  # noqa: S314 - see the import
    except ET.ParseError as exc:
        return NvidiaQuery(error=f"unreadable nvidia-smi -q -x output ({exc}): {excerpt(text.strip()[:200])!r}")
    if root.tag != "nvidia_smi_log":
        return NvidiaQuery(error=f"not an nvidia-smi log: root element <{excerpt(root.tag, 40)}>")
    gpus = []
    for index, gpu in enumerate(root.findall("gpu")):
        corrected_v, uncorrected_v = _ecc(gpu, "volatile")
        corrected_a, uncorrected_a = _ecc(gpu, "aggregate")
        gpus.append(
            GpuDetail(
                index=index,
                uuid=_text(gpu, "uuid"),
                serial=_text(gpu, "serial"),
                product_name=_text(gpu, "product_name"),
                pci_bus_id=_text(gpu, "pci/pci_bus_id"),
                vbios_version=_text(gpu, "vbios_version"),
                persistence_mode=_text(gpu, "persistence_mode"),
                pcie_gen_current=_number(gpu, "pci/pci_gpu_link_info/pcie_gen/current_link_gen"),
                pcie_gen_max=_number(gpu, "pci/pci_gpu_link_info/pcie_gen/max_link_gen"),
                pcie_width_current=_number(gpu, "pci/pci_gpu_link_info/link_widths/current_link_width"),
                pcie_width_max=_number(gpu, "pci/pci_gpu_link_info/link_widths/max_link_width"),
                throttle_reasons=_throttle(gpu),
                ecc_mode=_text(gpu, "ecc_mode/current_ecc"),
                ecc_corrected_volatile=corrected_v,
                ecc_uncorrected_volatile=uncorrected_v,
                ecc_corrected_aggregate=corrected_a,
                ecc_uncorrected_aggregate=uncorrected_a,
                retired_pages_single=_number(gpu, "retired_pages/multiple_single_bit_retirement/retired_count"),
                retired_pages_double=_number(gpu, "retired_pages/double_bit_retirement/retired_count"),
                retired_pages_pending=_text(gpu, "retired_pages/pending_retirement", "retired_pages/pending_blacklist"),
                remapped_rows_correctable=_number(gpu, "remapped_rows/remapped_row_corr"),
                remapped_rows_uncorrectable=_number(gpu, "remapped_rows/remapped_row_unc"),
                remapped_rows_pending=_text(gpu, "remapped_rows/remapped_row_pending"),
                remapped_rows_failure=_text(gpu, "remapped_rows/remapped_row_failure"),
                power_limit_w=_number(
                    gpu,
                    "gpu_power_readings/current_power_limit",
                    "power_readings/power_limit",
                    "power_readings/enforced_power_limit",
                ),
                mig_mode=_text(gpu, "mig_mode/current_mig"),
                # <gpu_module_id> (drivers 510-535); recent ones also list it with the platform information.
                module_id=_number(gpu, "gpu_module_id", ".//module_id"),
            )
        )
    return NvidiaQuery(_text(root, "driver_version"), _text(root, "cuda_version"), tuple(gpus))
