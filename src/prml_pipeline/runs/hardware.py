"""What a job used of the machine: wall and CPU time, peak memory and, on CUDA, the GPU.

    with HardwareMonitor() as usage:          # picks CUDA when torch sees a GPU, else the CPU
        train(..., device=usage.device)
    record["hardware"] = usage.figures

Process figures come from getrusage(2) of the job's own process: CPU time (user + system, all
threads) over the monitored span, and the peak resident set size of the process's whole life
(the kernel keeps no peak per span). On CUDA, torch gives the device, the CUDA runtime it was
built with and its peak allocated and reserved memory over the span; NVML (the `nvidia-ml-py`
package, imported as `pynvml`) gives the driver and, sampled every `interval_s` seconds in a
background thread, the GPU's utilisation, memory in use, power and energy. NVML figures are the
whole device's, whoever else runs on it. Without NVML (package or library missing, no
permission) the figures say why under `nvml.reason`; monitoring never fails a job.
"""

from __future__ import annotations

import os
import re
import resource
import sys
import threading
import time
from itertools import pairwise
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

__all__ = ["HardwareMonitor", "NvmlSampler", "USAGE_ITEMS", "process_usage", "usage_items"]

MIB = 2**20
NVML_INTERVAL_S = 0.5

# (dotted key under "hardware", name, unit) of each figure, in the order tools show them.
USAGE_ITEMS: tuple[tuple[str, str, str], ...] = (
    ("wall_seconds", "wall time", "s"),
    ("cpu_seconds", "CPU time", "s"),
    ("peak_rss_mib", "peak resident memory", "MiB"),
    ("cuda.device", "GPU", ""),
    ("cuda.driver_version", "NVIDIA driver", ""),
    ("cuda.cuda_runtime", "CUDA runtime (torch)", ""),
    ("cuda.cuda_driver", "CUDA version of the driver", ""),
    ("cuda.peak_allocated_mib", "GPU peak allocated memory (torch)", "MiB"),
    ("cuda.peak_reserved_mib", "GPU peak reserved memory (torch)", "MiB"),
    ("nvml.utilization_mean_percent", "GPU utilisation, mean", "%"),
    ("nvml.utilization_peak_percent", "GPU utilisation, peak", "%"),
    ("nvml.memory_used_peak_mib", "GPU memory in use, peak (NVML, whole device)", "MiB"),
    ("nvml.power_mean_w", "GPU power, mean", "W"),
    ("nvml.energy_j", "GPU energy", "J"),
    ("nvml.reason", "NVML not used", ""),
)


def process_usage() -> dict[str, float]:
    """CPU seconds (user + system, every thread) and peak resident MiB of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    peak = usage.ru_maxrss / (MIB if sys.platform == "darwin" else 1024)
    return {"cpu_seconds": usage.ru_utime + usage.ru_stime, "peak_rss_mib": peak}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _driver_from_proc() -> str | None:
    """The NVIDIA kernel driver's version as /proc says, when NVML cannot tell."""
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
    except OSError:
        return None
    found = re.search(r"Kernel Module(?: for \S+)?\s+(\d+(?:\.\d+)+)", text)
    return found.group(1) if found else None


class NvmlSampler:
    """One GPU's utilisation, memory in use and power, sampled by NVML in a background thread.

    `device` names the GPU as torch sees it (index, UUID, PCI bus id): NVML numbers every GPU
    of the machine while CUDA_VISIBLE_DEVICES renumbers them, so the handle is looked up by
    UUID, then PCI bus id, then the index. `nvml` is the module to use (`pynvml` by default;
    tests pass a fake). `start` and `stop` never raise: what failed goes to `reason`.
    """

    def __init__(self, *, index: int = 0, uuid: str | None = None, pci_bus_id: str | None = None,
                 interval_s: float = NVML_INTERVAL_S, nvml: ModuleType | None = None) -> None:
        self.index, self.uuid, self.pci_bus_id = index, uuid, pci_bus_id
        self.interval_s = interval_s
        self._nvml = nvml
        self._handle: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.reason: str | None = None
        self.matched_by: str | None = None
        self.utilization: list[float] = []
        self.memory_used: list[float] = []
        self.power: list[tuple[float, float]] = []  # (monotonic seconds, watts)
        self.errors = 0
        self._energy_start: float | None = None
        self.info: dict[str, Any] = {}

    def _find_handle(self, nvml: Any) -> Any:
        tries = []
        if self.uuid:
            uuid = self.uuid if self.uuid.startswith(("GPU-", "MIG-")) else f"GPU-{self.uuid}"
            tries.append(("uuid", nvml.nvmlDeviceGetHandleByUUID, uuid))
        if self.pci_bus_id:
            tries.append(("pci bus id", nvml.nvmlDeviceGetHandleByPciBusId, self.pci_bus_id))
        tries.append(("index", nvml.nvmlDeviceGetHandleByIndex, self.index))
        failures = []
        for how, lookup, key in tries:
            try:
                handle = lookup(key)
            except Exception as error:  # NVMLError or a missing binding: try the next key
                failures.append(f"{how} {key}: {error}")
                continue
            self.matched_by = how
            return handle
        raise LookupError("; ".join(failures))

    def start(self) -> None:
        try:
            nvml = self._nvml
            if nvml is None:
                import pynvml as nvml  # the nvidia-ml-py package
            self._nvml = nvml
            nvml.nvmlInit()
        except ImportError:
            self.reason = "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
            return
        except Exception as error:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
            self.reason = f"NVML did not start: {error}"
            return
        try:
            self._handle = self._find_handle(nvml)
            self.info = self._device_info(nvml)
            self._energy_start = self._energy_mj()
        except Exception as error:
            self.reason = f"NVML found no handle for the GPU: {error}"
            self._shutdown()
            return
        self._sample()
        self._thread = threading.Thread(target=self._run, name="nvml-sampler", daemon=True)
        self._thread.start()

    def _device_info(self, nvml: Any) -> dict[str, Any]:
        info: dict[str, Any] = {}
        for key, call in (("name", lambda: _text(nvml.nvmlDeviceGetName(self._handle))),
                          ("driver_version", lambda: _text(nvml.nvmlSystemGetDriverVersion())),
                          ("cuda_driver", lambda: self._cuda_version(
                              nvml.nvmlSystemGetCudaDriverVersion()))):
            try:
                info[key] = call()
            except Exception:  # an older driver or binding lacks the call: leave it out
                pass
        return info

    @staticmethod
    def _cuda_version(number: int) -> str:
        return f"{number // 1000}.{number % 1000 // 10}"

    def _energy_mj(self) -> float | None:
        try:
            return float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
        except Exception:  # GPUs before Volta have no energy counter: integrate power instead
            return None

    def _sample(self) -> None:
        nvml = self._nvml
        try:
            utilization = float(nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)
            used = float(nvml.nvmlDeviceGetMemoryInfo(self._handle).used) / MIB
        except Exception:
            self.errors += 1
            return
        try:
            watts = float(nvml.nvmlDeviceGetPowerUsage(self._handle)) / 1000
        except Exception:
            watts = None
        with self._lock:
            self.utilization.append(utilization)
            self.memory_used.append(used)
            if watts is not None:
                self.power.append((time.monotonic(), watts))

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _shutdown(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception:
            pass

    def stop(self) -> dict[str, Any]:
        """Stop sampling and summarise: the `nvml` part of the figures."""
        if self.reason is not None:
            return {"available": False, "reason": self.reason}
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()  # the last moment too, so that a short job has two samples
        energy_end = self._energy_mj()
        self._shutdown()
        figures: dict[str, Any] = {"available": True, **self.info,
                                   "matched_by": self.matched_by, "samples": len(self.utilization),
                                   "interval_s": self.interval_s, "sample_errors": self.errors}
        if self.utilization:
            figures["utilization_mean_percent"] = sum(self.utilization) / len(self.utilization)
            figures["utilization_peak_percent"] = max(self.utilization)
            figures["memory_used_peak_mib"] = max(self.memory_used)
        if self.power:
            watts = [w for _, w in self.power]
            figures["power_mean_w"] = sum(watts) / len(watts)
            figures["power_peak_w"] = max(watts)
        if self._energy_start is not None and energy_end is not None:
            figures["energy_j"] = (energy_end - self._energy_start) / 1000
            figures["energy_source"] = "energy counter"
        elif len(self.power) >= 2:  # trapezoids over the power samples
            figures["energy_j"] = sum((t1 - t0) * (w0 + w1) / 2 for (t0, w0), (t1, w1)
                                      in pairwise(self.power))
            figures["energy_source"] = "power samples"
        return figures


def _cuda_identity(cuda: Any, index: int) -> dict[str, str | None]:
    """The UUID and PCI bus id of CUDA device `index` (`cuda` is torch.cuda), to find it among
    NVML's devices."""
    properties = cuda.get_device_properties(index)
    uuid = getattr(properties, "uuid", None)
    bus = getattr(properties, "pci_bus_id", None)
    return {
        "uuid": str(uuid) if uuid is not None else None,
        "pci_bus_id": (f"{getattr(properties, 'pci_domain_id', 0):08X}:{bus:02X}:"
                       f"{getattr(properties, 'pci_device_id', 0):02X}.0"
                       if isinstance(bus, int) else None),
    }


class HardwareMonitor:
    """Measure what the code inside `with` uses; `figures` holds the result after it.

    `device` is "cpu", "cuda", "cuda:<n>" or None (CUDA when torch sees a GPU, else the CPU),
    resolved once as `device` for the caller to train on. `nvml` replaces the `pynvml` module
    (tests); `cuda` replaces `torch.cuda` (tests).
    """

    def __init__(self, device: str | None = None, *, interval_s: float = NVML_INTERVAL_S,
                 nvml: ModuleType | None = None, cuda: Any = None) -> None:
        self._cuda = cuda
        if device is None:
            device = "cuda" if self._torch_cuda().is_available() else "cpu"
        if device.startswith("cuda") and ":" not in device:
            device = f"cuda:{self._torch_cuda().current_device()}"
        self.device = device
        self.interval_s = interval_s
        self._nvml = nvml
        self._sampler: NvmlSampler | None = None
        self.figures: dict[str, Any] = {}

    def _torch_cuda(self) -> Any:
        if self._cuda is None:
            import torch

            self._cuda = torch.cuda
        return self._cuda

    @property
    def on_cuda(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def index(self) -> int:
        return int(self.device.split(":", 1)[1]) if self.on_cuda else -1

    def __enter__(self) -> HardwareMonitor:
        if self.on_cuda:
            cuda = self._torch_cuda()
            cuda.reset_peak_memory_stats(self.index)
            try:
                identity: dict[str, Any] = _cuda_identity(cuda, self.index)
            except Exception:  # identity only helps to find the GPU in NVML
                identity = {}
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")
            entry = visible[self.index].strip() if self.index < len(visible) else ""
            # CUDA_VISIBLE_DEVICES may list UUIDs (SLURM sometimes does) or NVML indices.
            uuid = identity.get("uuid") or (entry if entry.startswith("GPU-") else None)
            nvml_index = int(entry) if entry.isdigit() else self.index
            self._sampler = NvmlSampler(index=nvml_index, uuid=uuid,
                                        pci_bus_id=identity.get("pci_bus_id"),
                                        interval_s=self.interval_s, nvml=self._nvml)
            self._sampler.start()
        self._start_wall = time.perf_counter()
        self._start_cpu = process_usage()["cpu_seconds"]
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        wall = time.perf_counter() - self._start_wall
        process = process_usage()
        figures: dict[str, Any] = {
            "device": self.device,
            "wall_seconds": round(wall, 3),
            "cpu_seconds": round(process["cpu_seconds"] - self._start_cpu, 3),
            "peak_rss_mib": round(process["peak_rss_mib"], 1),
            "cuda": None,
        }
        nvml = (self._sampler.stop() if self._sampler is not None else
                {"available": False, "reason": "the job ran on the CPU"})
        if self.on_cuda:
            cuda = self._torch_cuda()
            figures["cuda"] = {
                "device": _text(cuda.get_device_name(self.index)),
                "driver_version": nvml.get("driver_version") or _driver_from_proc(),
                "cuda_runtime": _torch_cuda_runtime(),
                "cuda_driver": nvml.get("cuda_driver"),
                "peak_allocated_mib": round(cuda.max_memory_allocated(self.index) / MIB, 1),
                "peak_reserved_mib": round(cuda.max_memory_reserved(self.index) / MIB, 1),
            }
        figures["nvml"] = {key: (round(value, 3) if isinstance(value, float) else value)
                           for key, value in nvml.items()
                           if key not in ("driver_version", "cuda_driver")}
        self.figures = figures


def _torch_cuda_runtime() -> str | None:
    torch = sys.modules.get("torch")
    return getattr(getattr(torch, "version", None), "cuda", None) if torch else None


def _lookup(figures: dict[str, Any], dotted: str) -> Any:
    value: Any = figures
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def usage_items(figures: dict[str, Any] | None) -> list[tuple[str, str, Any, str]]:
    """(key, name, value, unit) of each figure a record holds, in the order of USAGE_ITEMS."""
    if not figures:
        return []
    items = []
    for key, name, unit in USAGE_ITEMS:
        value = _lookup(figures, key)
        if value is not None:
            items.append((key, name, value, unit))
    return items
