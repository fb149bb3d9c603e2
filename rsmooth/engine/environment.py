"""Where and how a run computes: device, precision, memory format, threads."""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass
from typing import Any

import torch

from rsmooth.config import RunConfig
from rsmooth.errors import ConfigError


@dataclass(frozen=True)
class Environment:
    device: torch.device
    amp_dtype: torch.dtype | None  # None: plain fp32
    channels_last: bool

    @property
    def precision(self) -> str:
        return "bf16" if self.amp_dtype == torch.bfloat16 else "fp32"

    def autocast(self) -> torch.autocast:
        enabled = self.amp_dtype is not None
        return torch.autocast(
            self.device.type, dtype=self.amp_dtype or torch.float32, enabled=enabled
        )

    @property
    def device_name(self) -> str:
        """The GPU's model; the CPU's model and kernels' instruction set (``cpu_name``)."""
        return torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else cpu_name()

    def describe(self, cfg: RunConfig) -> dict[str, Any]:
        from rsmooth import __version__

        return {
            "torch": torch.__version__,
            "rsmooth": __version__,
            "python": platform.python_version(),
            "device": str(self.device),
            "device_name": self.device_name,
            "threads": torch.get_num_threads(),
            "precision": self.precision,
            "channels_last": self.channels_last,
            "compile": cfg.compile,
            "deterministic": cfg.deterministic,
            "cuda_graphs": cfg.cuda_graphs,
        }


def device_of(cfg: RunConfig) -> torch.device:
    """The device ``cfg.device`` (auto|cpu|cuda) means on this machine; nothing else set."""
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "cuda", "auto or cpu: no CUDA device is available here")
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    return torch.device("cuda" if use_cuda else "cpu")


def select_environment(cfg: RunConfig) -> Environment:
    """Resolve device auto|cpu|cuda and precision auto|fp32|bf16 (auto: bf16 on cuda), and set
    the process up for it (threads; on CUDA, autotuning and determinism)."""
    device = device_of(cfg)
    use_cuda = device.type == "cuda"
    if cfg.cuda_graphs and not use_cuda:
        raise ConfigError("cuda_graphs", True, "false here: CUDA graphs need a CUDA device")
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    if use_cuda:
        configure_cuda(cfg.deterministic)
    native_bf16 = use_cuda or cpu_has_native_bf16()
    precision = cfg.precision if cfg.precision != "auto" else ("bf16" if native_bf16 else "fp32")
    amp_dtype = torch.bfloat16 if precision == "bf16" else None
    # channels_last pays on both: cuDNN's NHWC kernels, and oneDNN's on the CPU (ResNet20,
    # batch 128, fp32, 2 cores: 169 vs 187 ms per step; docs/performance.md).
    channels_last = cfg.channels_last if cfg.channels_last is not None else True
    return Environment(device, amp_dtype, channels_last)


def configure_cuda(deterministic: bool) -> None:
    """cuDNN autotuning picks the fastest conv kernels for the fixed batch shapes, but its
    choice varies from process to process, and some of its kernels (and some atomics-based
    reductions) are nondeterministic: two passes of one seed on an H200 ended up to 1.6 test
    points apart (docs/reproducing.md). ``deterministic`` trades that speed for runs that
    repeat bit for bit: no autotuning, deterministic algorithms only (an op without one raises
    instead of running nondeterministically), and the cuBLAS workspace setting its
    deterministic GEMMs need (set before cuBLAS starts: this runs before any CUDA work).
    CPU runs are deterministic either way (a resumed run repeats its epochs bit for bit)."""
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic)


@functools.cache  # the CPU does not change within a process; bench builds many environments
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none: not Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            return parse_cpuinfo(f.read())
    except OSError:
        return {}


def parse_cpuinfo(text: str) -> dict[str, str]:
    """The fields of the first processor block of a /proc/cpuinfo text."""
    fields: dict[str, str] = {}
    for line in text.strip().split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def _cpu_flags() -> set[str]:
    # x86 says "flags"; ARM says "Features" (its bf16 is not used by the kernels named here)
    return set(_cpuinfo().get("flags", "").split())


def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 arithmetic (AVX512-BF16 or AMX), where oneDNN's bf16 convolutions
    are about twice as fast as fp32 (docs/performance.md); elsewhere bf16 is emulated, slower."""
    return bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())


# oneDNN's cap on its instruction set (its documented variable, and the older name): a capped AMX
# machine runs another set of kernels than an uncapped one.
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")


def cpu_kernels() -> str:
    """The instruction set the CPU's kernels use: AMX (oneDNN's bf16 tiles), AVX512-BF16 (its
    bf16 dot products), else ATen's vector level (AVX512, AVX2, DEFAULT, ...); with oneDNN's
    cap where one is set."""
    flags = _cpu_flags()
    if "amx_bf16" in flags:
        kernels = "AMX"
    elif "avx512_bf16" in flags:
        kernels = "AVX512-BF16"
    else:
        kernels = str(torch.backends.cpu.get_cpu_capability())
    caps = [f"{name}={os.environ[name]}" for name in ISA_CAPS if os.environ.get(name)]
    return " ".join([kernels, *caps])


def cpu_model() -> str:
    """The CPU's model: x86's "model name"; on ARM Linux, which has none, its implementer and
    part numbers (they tell a Graviton from an Ampere); else what Python knows."""
    info = _cpuinfo()
    if info.get("model name"):
        return info["model name"]
    if info.get("CPU implementer") and info.get("CPU part"):
        return f"ARM implementer {info['CPU implementer']} part {info['CPU part']}"
    return platform.processor() or platform.machine()


@functools.cache
def cpu_name() -> str:
    """This CPU as an engine names it: its model and the instruction set of its kernels. Both
    change a run's arithmetic: oneDNN rounds and accumulates bf16 products one way on AMX tiles
    and another with AVX512-BF16, and may size its blocks by the model's caches. The machine's
    architecture alone ("x86_64", what records before this said) named an AMX Xeon and an AMD
    EPYC alike, so a sweep would have added one's runs to the other's records as one engine."""
    return f"{cpu_model()}, {cpu_kernels()}"
