"""Where and how a run computes: device, precision, memory format, threads."""

from __future__ import annotations

import functools
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

    def describe(self, cfg: RunConfig) -> dict[str, Any]:
        from rsmooth import __version__

        name = (
            torch.cuda.get_device_name(self.device)
            if self.device.type == "cuda"
            else platform.processor() or platform.machine()
        )
        return {
            "torch": torch.__version__,
            "rsmooth": __version__,
            "python": platform.python_version(),
            "device": str(self.device),
            "device_name": name,
            "threads": torch.get_num_threads(),
            "precision": self.precision,
            "channels_last": self.channels_last,
            "compile": cfg.compile,
        }


def select_environment(cfg: RunConfig) -> Environment:
    """Resolve device auto|cpu|cuda and precision auto|fp32|bf16 (auto: bf16 on cuda)."""
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "cuda", "auto or cpu: no CUDA device is available here")
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    if use_cuda:
        # cuDNN autotuning picks the fastest conv kernels for the fixed batch shapes; it makes
        # GPU runs non-bitwise-reproducible (its choice varies run to run), CPU runs stay exact.
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    native_bf16 = use_cuda or cpu_has_native_bf16()
    precision = cfg.precision if cfg.precision != "auto" else ("bf16" if native_bf16 else "fp32")
    amp_dtype = torch.bfloat16 if precision == "bf16" else None
    # channels_last pays on both: cuDNN's NHWC kernels, and oneDNN's on the CPU (ResNet20,
    # batch 128, fp32, 2 cores: 169 vs 187 ms per step; docs/performance.md).
    channels_last = cfg.channels_last if cfg.channels_last is not None else True
    return Environment(device, amp_dtype, channels_last)


@functools.cache  # the CPU does not change within a process; bench builds many environments
def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 arithmetic (AVX512-BF16 or AMX), where oneDNN's bf16 convolutions
    are about twice as fast as fp32 (docs/performance.md); elsewhere bf16 is emulated, slower."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags
