"""Several GPUs: the `gpus` setting, the server's own GPUs, totals for the memory budget and decode efficiency."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import FIXTURES

from zorac_tui.telemetry.exporter_text import parse_exporter_text
from zorac_tui.telemetry.fleet import fleet_totals, parse_gpu_spec, select_gpus
from zorac_tui.telemetry.memory import decode_efficiency, ideal_decode_tok_s, memory_budget
from zorac_tui.telemetry.samples import TelemetrySnapshot
from zorac_tui.telemetry.simulated import SIM_SERVER_BYTES, SIM_WEIGHT_BYTES, SimulatedTelemetry

MIB = 1024**2


def snapshot_of(fixture: str, source: str = "dcgm-exporter on box") -> TelemetrySnapshot:
    gpus = parse_exporter_text((FIXTURES / "exporters" / fixture).read_text(encoding="utf-8")).gpus
    return TelemetrySnapshot(gpus=gpus, status="ok", message=None, simulated=False, at=0.0, source=source)


@pytest.mark.parametrize(("spec", "refs"), [
    ("", ()), (None, ()), ("  ", ()), ("0", (0,)), ("0, 2", (0, 2)),
    ("GPU-5a1e0000-0000-4000-8000-000000004090,1", ("GPU-5a1e0000-0000-4000-8000-000000004090", 1)),
    ("mig-1234", ("mig-1234",)),
])
def test_gpu_spec(spec, refs):
    assert parse_gpu_spec(spec) == refs


@pytest.mark.parametrize(("spec", "said"), [("0,,1", "empty entry"), ("first", "neither a GPU index"),
                                            ("-1", "neither a GPU index"), ("0,", "empty entry")])
def test_bad_gpu_spec_says_what_is_wrong(spec, said):
    with pytest.raises(ValueError, match=said):
        parse_gpu_spec(spec)


def test_select_by_index_and_uuid():
    snap = snapshot_of("dcgm_4xA100_v4.txt")
    assert select_gpus(snap, "") is snap
    picked = select_gpus(snap, "1,3")
    assert [g.index for g in picked.gpus] == [1, 3] and picked.note is None
    by_uuid = select_gpus(snap, "gpu-5b7e9c1d-2a3f-4e8b-a6c0-1d4f7e2b9c33, 0")  # UUIDs in any case
    assert [g.index for g in by_uuid.gpus] == [0, 2]
    assert select_gpus(snap, (3,)).gpus == (snap.gpus[3],)


def test_select_names_gpus_the_source_does_not_report():
    snap = snapshot_of("dcgm_2xRTX4090_hostname.txt")
    picked = select_gpus(snap, "1,5")
    assert [g.index for g in picked.gpus] == [1]
    assert picked.note == "gpus setting: 5 not reported by dcgm-exporter on box"
    nothing = select_gpus(snap, "7")
    assert nothing.gpus == () and "7 not reported" in nothing.note


def test_serving_only_keeps_the_servers_gpus_when_known():
    sim = SimulatedTelemetry(gpu_count=2).sample()
    ours = replace(sim.gpus[0], serving=True)
    desktop = replace(sim.gpus[1], index=1, serving=False)
    snap = replace(sim, gpus=(ours, desktop))
    assert select_gpus(snap, serving_only=True).gpus == (ours,)
    unknown = snapshot_of("dcgm_4xA100_v4.txt")  # an exporter cannot say: all stay
    assert len(select_gpus(unknown, serving_only=True).gpus) == 4


def test_fleet_totals_over_four_a100s():
    totals = fleet_totals(snapshot_of("dcgm_4xA100_v4.txt").gpus)
    assert totals.count == 4
    assert totals.memory_total == 4 * 81920 * MIB
    assert totals.memory_used == 4 * (73917 + 590) * MIB and totals.memory_free == 4 * 7413 * MIB
    assert totals.power_w == pytest.approx(312.457 + 330.112 + 298.6 + 321.05)
    assert totals.power_limit_w is None  # not reported: no total
    assert totals.gpu_util == pytest.approx((97 + 98 + 96 + 97) / 4)
    assert totals.bandwidth_bytes_per_s == pytest.approx(4 * 2039e9) and totals.bandwidth_source == "spec table"
    assert totals.server_process_memory is None


def test_fleet_totals_make_the_memory_budget_and_efficiency_work_over_two_gpus():
    gpus = SimulatedTelemetry(gpu_count=2).sample().gpus
    totals = fleet_totals(gpus)
    assert totals.count == 2 and totals.bandwidth_source == "NVML"
    assert totals.server_process_memory == 2 * SIM_SERVER_BYTES
    assert totals.memory_total == 2 * gpus[0].memory_total
    budget = memory_budget(totals.memory_total, totals.memory_used, totals.server_process_memory,
                           2 * 4_000_000_000, SIM_WEIGHT_BYTES)
    assert budget.other_processes.bytes == gpus[0].memory_used - SIM_SERVER_BYTES  # the desktop, on GPU 0 only
    ideal = ideal_decode_tok_s(totals.bandwidth_bytes_per_s, SIM_WEIGHT_BYTES)
    assert round(ideal) == round(2 * 1008e9 / SIM_WEIGHT_BYTES)  # both GPUs read their half at once
    assert decode_efficiency(62.0, ideal) == pytest.approx(62.0 / ideal)


def test_one_unknown_figure_leaves_the_total_unknown():
    a, b = snapshot_of("nvitop_2xRTX3090.txt").gpus
    totals = fleet_totals((a, b))
    assert totals.power_limit_w is None and totals.power_w == pytest.approx(318.27 + 305.9)
    assert fleet_totals((a,)).power_limit_w == 350.0
    empty = fleet_totals(())
    assert empty.count == 0 and empty.memory_used is None and empty.bandwidth_bytes_per_s is None
