"""rsmooth.engine.environment: where and how a run computes."""

from __future__ import annotations

import json
import platform

import pytest
import torch

from rsmooth.config import RunConfig
from rsmooth.engine import environment
from rsmooth.engine.environment import cpu_has_native_bf16, select_environment
from rsmooth.errors import ConfigError


def test_auto_on_this_machine():
    env = select_environment(RunConfig(device="cpu"))
    assert env.device == torch.device("cpu")
    assert env.channels_last  # measured faster on CPU and CUDA (docs/performance.md)
    assert env.precision == ("bf16" if cpu_has_native_bf16() else "fp32")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_precision_and_autocast(precision):
    env = select_environment(RunConfig(device="cpu", precision=precision, channels_last=False))
    assert env.precision == precision and not env.channels_last
    with env.autocast():
        out = torch.nn.Linear(4, 4)(torch.randn(2, 4))
    assert out.dtype == (torch.bfloat16 if precision == "bf16" else torch.float32)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is available here")
def test_cuda_without_a_device_is_a_user_error():
    with pytest.raises(ConfigError, match="no CUDA device"):
        select_environment(RunConfig(device="cuda"))


def test_threads_and_description():
    before = torch.get_num_threads()
    try:
        cfg = RunConfig(device="cpu", num_threads=1)
        env = select_environment(cfg)
        assert torch.get_num_threads() == 1
        described = env.describe(cfg)
        assert described["threads"] == 1 and described["device"] == "cpu"
        assert {"torch", "rsmooth", "python", "device_name", "precision", "compile"} <= set(
            described
        )
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("deterministic", [False, True])
def test_determinism_is_recorded_and_leaves_the_cpu_as_it_is(deterministic):
    # CPU runs repeat bit for bit either way; the flag is recorded, no global switch flips.
    cfg = RunConfig(device="cpu", deterministic=deterministic)
    env = select_environment(cfg)
    assert env.describe(cfg)["deterministic"] is deterministic
    assert not torch.are_deterministic_algorithms_enabled()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_deterministic_gpu_runs_repeat_bit_for_bit(tmp_path):
    from rsmooth.data.synthetic import write_synthetic
    from rsmooth.engine import train_run

    data = write_synthetic("fashion-mnist", tmp_path / "data", 256, 64)
    cfg = RunConfig(
        device="cuda", deterministic=True, data_dir=str(data), epochs=2, batch_size=32, seed=3
    )
    for name in ("a", "b"):
        train_run(cfg, tmp_path / name, quiet=True)
    lines = [
        [
            {k: v for k, v in json.loads(x).items() if "second" not in k}
            for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        ]
        for name in ("a", "b")
    ]
    assert lines[0] == lines[1]
    torch.use_deterministic_algorithms(False)


@pytest.mark.parametrize(
    ("flags", "kernels", "native_bf16"),
    [
        ("fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile", "AMX", True),
        ("fpu avx2 avx512f avx512_bf16", "AVX512-BF16", True),
        ("fpu avx2", None, False),  # ATen's own level names the kernels
    ],
)
def test_a_cpu_is_named_by_its_model_and_the_instruction_set_of_its_kernels(
    monkeypatch, flags, kernels, native_bf16
):
    """Both change the arithmetic: an AMX Xeon's records and an AMD EPYC's are two engines."""
    info = {"model name": "Some CPU 9000", "flags": flags}
    monkeypatch.setattr(environment, "_cpuinfo", lambda: info)
    expected = kernels or str(torch.backends.cpu.get_cpu_capability())
    assert environment.cpu_kernels() == expected
    assert environment.cpu_name.__wrapped__() == f"Some CPU 9000, {expected}"
    assert environment.cpu_has_native_bf16() is native_bf16


def test_this_cpu_is_described_by_its_name():
    cfg = RunConfig(device="cpu")
    described = select_environment(cfg).describe(cfg)
    assert described["device_name"] == environment.cpu_name()


X86 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9R14
flags\t\t: fpu avx2 avx512f avx512_bf16

processor\t: 1
model name\t: another block's model
"""
ARM = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd bf16
CPU implementer\t: 0x41
CPU part\t: 0xd40

processor\t: 1
"""


@pytest.mark.parametrize(
    ("text", "model", "flags"),
    [
        (X86, "AMD EPYC 9R14", {"fpu", "avx2", "avx512f", "avx512_bf16"}),
        (ARM, "ARM implementer 0x41 part 0xd40", set()),  # no model name; no x86 flags
        ("", None, set()),  # an empty file: Python's names
    ],
)
def test_cpuinfo_names_the_first_processors_model(monkeypatch, text, model, flags):
    info = environment.parse_cpuinfo(text)
    monkeypatch.setattr(environment, "_cpuinfo", lambda: info)
    expected = model or platform.processor() or platform.machine()
    assert environment.cpu_model() == expected
    assert environment._cpu_flags() == flags


def test_onednns_cap_on_its_instruction_set_is_part_of_the_kernels(monkeypatch):
    info = {"model name": "Xeon", "flags": "avx512f avx512_bf16 amx_bf16"}
    monkeypatch.setattr(environment, "_cpuinfo", lambda: info)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")
    assert environment.cpu_kernels() == "AMX ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16"
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    assert environment.cpu_kernels() == "AMX"
