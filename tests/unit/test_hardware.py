"""The hardware figures of a training record: process time and memory, and the NVML sampler
against a fake NVML module (no GPU needed)."""

from __future__ import annotations

import json
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
from rocrate.rocrate import ROCrate

from prml_pipeline.report.tables import hardware_cells, training_table
from prml_pipeline.runs.compare import compare, markdown
from prml_pipeline.runs.crate import write_crate
from prml_pipeline.runs.hardware import HardwareMonitor, NvmlSampler, process_usage, usage_items

MIB = 2**20


class FakeNvmlError(Exception):
    pass


def fake_nvml(*, utilization=(20, 80), used_mib=(1024, 3072), power_w=(100.0, 300.0),
              energy_mj=(1_000_000, 1_250_000), init_error: str | None = None,
              uuids=("GPU-aaaa", "GPU-bbbb")) -> types.ModuleType:
    """A stand-in for `pynvml` whose readings follow the given sequences (the last one repeats
    once they run out); it records the calls it got."""
    nvml = types.ModuleType("pynvml")
    nvml.NVMLError = FakeNvmlError
    nvml.calls = []
    state = {"utilization": list(utilization), "used": list(used_mib),
             "power": list(power_w), "energy": list(energy_mj or (0,))}

    def take(name):
        values = state[name]
        return values.pop(0) if len(values) > 1 else values[0]

    def init():
        nvml.calls.append("init")
        if init_error:
            raise FakeNvmlError(init_error)

    def by_uuid(uuid):
        if uuid not in uuids:
            raise FakeNvmlError("Not Found")
        return ("handle", uuids.index(uuid))

    def by_index(index):
        return ("handle", index)

    def energy(handle):
        if energy_mj is None:
            raise FakeNvmlError("Not Supported")
        return take("energy")

    nvml.nvmlInit = init
    nvml.nvmlShutdown = lambda: nvml.calls.append("shutdown")
    nvml.nvmlDeviceGetHandleByUUID = by_uuid
    nvml.nvmlDeviceGetHandleByIndex = by_index
    nvml.nvmlDeviceGetName = lambda handle: f"Fake GPU {handle[1]}"
    nvml.nvmlSystemGetDriverVersion = lambda: "550.54.15"
    nvml.nvmlSystemGetCudaDriverVersion = lambda: 12040
    nvml.nvmlDeviceGetUtilizationRates = lambda handle: types.SimpleNamespace(
        gpu=take("utilization"), memory=0)
    nvml.nvmlDeviceGetMemoryInfo = lambda handle: types.SimpleNamespace(
        used=take("used") * MIB, total=80 * 1024 * MIB, free=0)
    nvml.nvmlDeviceGetPowerUsage = lambda handle: take("power") * 1000  # milliwatts
    nvml.nvmlDeviceGetTotalEnergyConsumption = energy
    return nvml


class FakeCuda:
    """The parts of torch.cuda the monitor reads."""

    def __init__(self, allocated=512 * MIB, reserved=768 * MIB):
        self.allocated, self.reserved, self.resets = allocated, reserved, []

    def is_available(self):
        return True

    def current_device(self):
        return 1

    def reset_peak_memory_stats(self, index):
        self.resets.append(index)

    def get_device_name(self, index):
        return "NVIDIA Fake H200"

    def max_memory_allocated(self, index):
        return self.allocated

    def max_memory_reserved(self, index):
        return self.reserved


def test_sampler_summarises_the_readings_of_the_gpu_it_was_pointed_at():
    # A long interval: one reading at the start and one at the stop, nothing in between.
    sampler = NvmlSampler(index=0, uuid="bbbb", interval_s=3600, nvml=fake_nvml())
    sampler.start()
    figures = sampler.stop()
    assert figures == {
        "available": True, "name": "Fake GPU 1", "driver_version": "550.54.15",
        "cuda_driver": "12.4", "matched_by": "uuid", "samples": 2, "interval_s": 3600,
        "sample_errors": 0,
        "utilization_mean_percent": 50.0, "utilization_peak_percent": 80.0,
        "memory_used_peak_mib": 3072.0, "power_mean_w": 200.0, "power_peak_w": 300.0,
        "energy_j": 250.0, "energy_source": "energy counter",
    }


def test_sampler_reads_in_the_background_while_the_job_runs():
    nvml = fake_nvml(utilization=(0, 10, 20, 30, 40, 100))
    sampler = NvmlSampler(index=0, interval_s=0.01, nvml=nvml)
    sampler.start()
    deadline = time.monotonic() + 10
    while len(sampler.utilization) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    figures = sampler.stop()
    assert figures["samples"] >= 6
    assert figures["utilization_peak_percent"] == 100
    assert figures["matched_by"] == "index"
    assert nvml.calls == ["init", "shutdown"]


def test_energy_from_power_samples_when_the_gpu_has_no_energy_counter():
    sampler = NvmlSampler(index=0, interval_s=3600, nvml=fake_nvml(energy_mj=None,
                                                                   power_w=(100.0, 300.0)))
    sampler.start()
    started = time.monotonic()
    time.sleep(0.2)
    figures = sampler.stop()
    elapsed = time.monotonic() - started
    # Trapezoid of 100 W -> 300 W over the time between the two readings.
    assert figures["energy_source"] == "power samples"
    assert 200 * 0.2 <= figures["energy_j"] <= 200 * (elapsed + 0.05)


@pytest.mark.parametrize("nvml, reason", [
    (None, "nvidia-ml-py is not installed"),
    (fake_nvml(init_error="Driver Not Loaded"), "NVML did not start: Driver Not Loaded"),
])
def test_absent_nvml_is_recorded_not_raised(monkeypatch, nvml, reason):
    if nvml is None:
        monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    sampler = NvmlSampler(index=0, nvml=nvml)
    sampler.start()
    figures = sampler.stop()
    assert figures["available"] is False
    assert figures["reason"].startswith(reason)


def test_monitor_on_cuda_records_torch_and_nvml_figures(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    cuda, nvml = FakeCuda(), fake_nvml()
    with HardwareMonitor("cuda", nvml=nvml, cuda=cuda, interval_s=3600) as monitor:
        assert monitor.device == "cuda:1"  # the current device
    figures = monitor.figures
    assert cuda.resets == [1]
    assert figures["cuda"] == {
        "device": "NVIDIA Fake H200", "driver_version": "550.54.15",
        "cuda_runtime": figures["cuda"]["cuda_runtime"], "cuda_driver": "12.4",
        "peak_allocated_mib": 512.0, "peak_reserved_mib": 768.0,
    }
    # torch device 1 is the machine's GPU 5 (CUDA_VISIBLE_DEVICES): NVML is asked for that one.
    assert figures["nvml"]["name"] == "Fake GPU 5"
    assert figures["nvml"]["energy_j"] == 250.0
    assert figures["nvml"]["utilization_mean_percent"] == 50.0
    names = {key: value for key, _, value, _ in usage_items(figures)}
    assert names["cuda.peak_reserved_mib"] == 768.0
    assert names["nvml.energy_j"] == 250.0
    assert names["nvml.utilization_peak_percent"] == 80.0
    assert "nvml.reason" not in names


def test_monitor_on_the_cpu_counts_cpu_time_and_peak_memory():
    before = process_usage()["peak_rss_mib"]
    with HardwareMonitor("cpu") as monitor:
        block = np.ones(64 * MIB // 8)  # 64 MiB, touched
        began = time.process_time()
        while time.process_time() - began < 0.3:
            block.sum()
    figures = monitor.figures
    assert figures["device"] == "cpu" and figures["cuda"] is None
    assert figures["nvml"] == {"available": False, "reason": "the job ran on the CPU"}
    assert 0.3 <= figures["cpu_seconds"] <= figures["wall_seconds"] * 2 + 0.1
    assert figures["peak_rss_mib"] >= max(before, 64)


def cuda_figures() -> dict:
    """Figures of a (fake) CUDA job as the monitor writes them into runinfo.json."""
    with HardwareMonitor("cuda:0", nvml=fake_nvml(), cuda=FakeCuda(), interval_s=3600) as usage:
        pass
    return usage.figures


def cpu_figures() -> dict:
    with HardwareMonitor("cpu") as usage:
        np.ones(MIB).sum()
    return usage.figures


def test_the_reports_training_table_shows_the_figures():
    models = {"small": {"title": "Small"}}
    records = {f"small/{seed}": {"machine": {"host": "node1", "slurm_job_id": "7", "threads": 1},
                                 "time": {"start": "2026-01-01T00:00:00+00:00"}}
               for seed in (1, 2, 3)}
    cpu, cuda = cpu_figures(), cuda_figures()
    runinfo = {("small", 1): {"device": "cpu", "hardware": cpu},
               ("small", 2): {"device": "cuda:0 (NVIDIA Fake H200)", "hardware": cuda},
               ("small", 3): {"device": "cpu"}}  # recorded before hardware figures existed
    rows = training_table(models, (1, 2, 3), records, runinfo).splitlines()
    assert rows[0].endswith("| Wall, CPU (s) | Peak RSS (MiB) | GPU use |")
    assert rows[2].endswith(f"| {cpu['wall_seconds']:.1f}, {cpu['cpu_seconds']:.1f} "
                            f"| {cpu['peak_rss_mib']:.0f} | none (CPU) |")
    assert rows[3].endswith(f"| {cuda['peak_rss_mib']:.0f} | 512/768 MiB, 50/80 %, 0.25 kJ |")
    assert rows[4].endswith("| n/a | n/a | n/a |")


def test_a_gpu_job_without_nvml_says_why_in_the_table():
    with HardwareMonitor("cuda:0", nvml=fake_nvml(init_error="Driver Not Loaded"),
                         cuda=FakeCuda()) as usage:
        pass
    assert hardware_cells(usage.figures)[2] == (
        "512/768 MiB, no NVML (NVML did not start: Driver Not Loaded)")


def test_the_crate_gives_a_training_action_its_figures_as_property_values(tmp_path):
    results = tmp_path / "results"
    weights = results / "vae/small/seed1/weights.pt"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"weights")
    figures = cuda_figures()
    record = {
        "schema": 1, "rule": "train_vae", "wildcards": {"model": "small", "seed": "1"},
        "script": {"path": "scripts/train_vae.py", "git_blob": "0" * 40},
        "code": {"commit": "c" * 40, "dirty": False}, "params": {},
        "config_subset_sha256": "f" * 64, "seeds": {}, "inputs": {},
        "outputs": {"results/vae/small/seed1/weights.pt": "0" * 64},
        "software": {"python": "3.11.7"}, "machine": {"host": "node1", "threads": 1},
        "time": {"start": "2026-01-01T00:00:00+00:00", "end": "2026-01-01T00:01:00+00:00",
                 "wall_seconds": 60.0},
        "extra": {"device": "cuda:0", "hardware": figures},
    }
    (results / "provenance/train_vae/small").mkdir(parents=True)
    (results / "provenance/train_vae/small/seed1.json").write_text(json.dumps(record))
    write_crate(results)
    metadata = json.loads((results / "ro-crate-metadata.json").read_text())
    assert {"resourceUsage": "https://w3id.org/ro/terms/workflow-run#resourceUsage"} in \
        metadata["@context"]
    crate = ROCrate(results)  # the rocrate library reads it back
    action = crate.get("#job/train_vae/model=small,seed=1")
    usage = {item["propertyID"]: item for item in action["resourceUsage"]}
    assert all(item.type == "PropertyValue" for item in usage.values())
    assert usage["cpu_seconds"]["value"] == figures["cpu_seconds"]
    assert usage["cpu_seconds"]["unitText"] == "s"
    assert usage["peak_rss_mib"]["unitText"] == "MiB"
    assert usage["peak_rss_mib"]["unitCode"] == "http://qudt.org/vocab/unit/MebiBYTE"
    assert "cuda.device" not in usage  # a name, not a measure: in the description
    assert "GPU NVIDIA Fake H200" in action["description"]
    assert usage["cuda.peak_allocated_mib"]["value"] == 512.0
    assert usage["nvml.energy_j"]["value"] == 250.0
    assert usage["nvml.utilization_mean_percent"]["value"] == 50.0
    assert usage["nvml.utilization_peak_percent"]["name"] == "GPU utilisation, peak"


def test_compare_lists_the_hardware_figures_that_differ(tmp_path):
    def folder(name: str, hardware: dict, epoch_seconds: list[float]) -> Path:
        record = {"rule": "train_vae", "wildcards": {"model": "small", "seed": "42"},
                  "script": {"path": "scripts/train_vae.py", "git_blob": "b" * 40},
                  "code": {"commit": "a" * 40, "dirty": False}, "params": {"cfg": {}},
                  "inputs": {}, "outputs": {}, "software": {},
                  "extra": {"epoch_seconds": epoch_seconds, "hardware": hardware}}
        path = tmp_path / name / "provenance/train_vae/small/42.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(record))
        return tmp_path / name

    cpu, cuda = cpu_figures(), cuda_figures()
    a, b = folder("a", cpu, [2.0, 4.0]), folder("b", cuda, [0.5, 0.5])
    result = compare(a, b)
    rows = {label.removeprefix("train_vae[small/42] "): (old, new)
            for label, old, new in result.hardware}
    assert rows["CPU time (s)"] == (cpu["cpu_seconds"], cuda["cpu_seconds"])
    assert rows["seconds per epoch, mean (s)"] == (3.0, 0.5)
    assert rows["GPU"] == (None, "NVIDIA Fake H200")
    assert rows["GPU energy (J)"] == (None, 250.0)
    assert rows["NVML not used"] == ("the job ran on the CPU", None)
    text = markdown(result, a, b)
    assert "## Hardware used by training jobs that differs" in text
    assert "| train_vae[small/42] seconds per epoch, mean (s) | 3 | 0.5 | -2.5 |" in text
