"""The compact form of parsed lines between a telemetry worker and the console: what goes in comes out,
field for field, with only changes sent after an accelerator's first line."""

from __future__ import annotations

import pickle

from console.core.telemetry.sample_codec import SampleDecoder, SampleEncoder
from console.core.telemetry.samples import AcceleratorSample, NotAvailable, ParsedLine, Vendor


def _sample(index: int, utilization: float | NotAvailable, at: float, uuid: str = "GPU-a") -> AcceleratorSample:
    return AcceleratorSample(
        index=index, vendor=Vendor.NVIDIA, uuid=uuid, utilization_pct=utilization, node_time=at, count=2, power_w=300.5
    )


def _through(encoder: SampleEncoder, decoder: SampleDecoder, node: str, lines: list[ParsedLine]) -> list[ParsedLine]:
    return decoder.decode(node, pickle.loads(pickle.dumps(encoder.encode(node, lines))))


def test_lines_come_out_as_they_went_in_and_later_ones_carry_only_their_changes() -> None:
    encoder, decoder = SampleEncoder(), SampleDecoder()
    first = [ParsedLine(sample=_sample(0, 50.0, 1.0)), ParsedLine(sample=_sample(1, 10.0, 1.0, "GPU-b"))]
    assert _through(encoder, decoder, "n1", first) == first
    second = [
        ParsedLine(sample=_sample(0, 60.0, 2.0)),
        ParsedLine(sample=_sample(1, NotAvailable("[GPU is lost]"), 2.0, "GPU-b"), field_errors=("utilization: x",)),
    ]
    encoded = encoder.encode("n1", second)
    assert encoded[0] == (0, {5: 60.0, 14: 2.0}, ())  # utilization and the node's time, nothing else
    assert decoder.decode("n1", encoded) == second
    third = [ParsedLine(sample=_sample(1, 0.0, 3.0, "GPU-b"))]  # back from "not available" to a number
    assert _through(encoder, decoder, "n1", third) == third


def test_a_value_of_another_type_that_compares_equal_is_still_sent() -> None:
    encoder, decoder = SampleEncoder(), SampleDecoder()
    _through(encoder, decoder, "n1", [ParsedLine(sample=_sample(0, 1.0, 1.0))])
    same_value_other_type = [
        ParsedLine(
            sample=AcceleratorSample(
                index=0, vendor=Vendor.NVIDIA, uuid="GPU-a", utilization_pct=1, node_time=1.0, count=2, power_w=300.5
            )
        )
    ]
    out = _through(encoder, decoder, "n1", same_value_other_type)
    assert type(out[0].sample.utilization_pct) is int  # type: ignore[union-attr]


def test_errors_and_detections_travel_whole_and_nodes_are_kept_apart() -> None:
    encoder, decoder = SampleEncoder(), SampleDecoder()
    lines = [ParsedLine(error="nvidia-smi: GPU is lost"), ParsedLine(detected=("nvidia-smi", Vendor.NVIDIA))]
    assert _through(encoder, decoder, "n1", lines) == lines
    a = [ParsedLine(sample=_sample(0, 5.0, 1.0))]
    b = [ParsedLine(sample=_sample(0, 95.0, 1.0, "GPU-z"))]
    assert _through(encoder, decoder, "n1", a) == a and _through(encoder, decoder, "n2", b) == b
    assert _through(encoder, decoder, "n1", a) == a


def test_after_a_worker_restart_the_decoder_needs_every_field_again_and_says_so_otherwise() -> None:
    encoder, decoder = SampleEncoder(), SampleDecoder()
    _through(encoder, decoder, "n1", [ParsedLine(sample=_sample(0, 5.0, 1.0))])
    decoder.reset()
    out = decoder.decode("n1", encoder.encode("n1", [ParsedLine(sample=_sample(0, 6.0, 2.0))]))
    assert out[0].sample is None and "worker restarted" in (out[0].error or "")
    fresh = SampleEncoder()  # the new worker's encoder
    line = [ParsedLine(sample=_sample(0, 7.0, 3.0))]
    assert _through(fresh, decoder, "n1", line) == line
