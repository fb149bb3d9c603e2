"""A training step captured as a CUDA graph and replayed (``cuda_graphs``).

Why: a ResNet20 step on an H200 is about 7.5 ms of mostly idle GPU, the time it takes the host
to launch its ~1,700 kernels (docs/performance.md); a CUDA graph launches them all at once
(PyTorch reports 1.3-1.8x on launch-bound steps). The whole step is captured: forward,
backward, the step rule's second pass, the gradient transform and the optimizer's step.

How (torch's recipe, "CUDA Graphs" in the CUDA semantics notes): a captured step replays the
kernels of its capture on the memory of its capture, so everything that changes from step to
step must live in tensors the graph reads: the batch (copied into static buffers), s_t (a
static (K,) buffer) and each run's learning rate (a device tensor in its optimizer's param
groups, filled before the replay: rsmooth/methods/optimizers.py builds the optimizers so with
``cuda_graphs``). Nothing inside the step may read a value back to the host: tests/test_step.py
holds every registered method to that at the Python level on the CPU (a sync inside torch's
own kernels, or a copy from pageable host memory, only a real capture shows: the CUDA test in
tests/test_capture.py). Each batch shape is captured once (an epoch's last,
smaller batch is a second shape), after ``WARMUP_STEPS`` eager steps of that shape on a side
stream, which create what is created lazily (optimizer state, cuDNN plans, autograd's
buffers); those steps are real training steps, not discarded work. A pack is captured once and
replayed for every epoch it trains; a new pack (a run left or joined) is a new capture. The
local sweep trains one pack per process, so it captures once per pack.

What it refuses, with a one-line reason before any work: a device other than CUDA, together
with ``compile`` (torch.compile's reduce-overhead mode captures graphs itself: one or the
other), and an optimizer that keeps host state (its ``graph_refusal``).

The graph itself is a ``GraphBackend``: ``CudaGraphs`` on a GPU; tests drive the same buffers
and calls on the CPU with ``EagerGraphs``, whose "replay" runs the captured step's code again
on the static buffers (so a batch that was not copied in would train on the wrong data).
"""

from __future__ import annotations

import contextlib
import functools
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import torch
from torch import Tensor

from rsmooth.config import RunConfig
from rsmooth.engine.step import Pack, step_gradients_and_update, train_step
from rsmooth.errors import ConfigError
from rsmooth.registry import checks

# Eager steps per batch shape before its capture; torch's example warms up 3 iterations.
WARMUP_STEPS = 3

Step = Callable[[Tensor, Tensor, Sequence[float], Tensor], tuple[Tensor, Tensor]]


@checks
def graphs_need_cuda_and_no_compile(cfg: RunConfig) -> None:
    if not cfg.cuda_graphs:
        return
    if cfg.device == "cpu":
        raise ConfigError("cuda_graphs", True, "false with device cpu (a CUDA device only)")
    if cfg.compile:
        raise ConfigError(
            "cuda_graphs",
            True,
            "false with compile (torch.compile's reduce-overhead mode captures graphs itself; "
            "choose one)",
        )


class GraphBackend(Protocol):
    def warmup(self) -> contextlib.AbstractContextManager[None]:
        """Where the eager steps before a capture run."""
        ...

    def capture(self, body: Callable[[], None]) -> Callable[[], None]:
        """Record ``body`` (without running it); returns what replays it."""
        ...


class CudaGraphs:
    """torch.cuda.CUDAGraph: warm-up on a side stream, captures sharing one memory pool."""

    def __init__(self, device: torch.device) -> None:
        self.stream = torch.cuda.Stream(device)
        self.pool = torch.cuda.graph_pool_handle()  # the shapes' graphs share their memory

    @contextlib.contextmanager
    def warmup(self) -> Iterator[None]:
        self.stream.wait_stream(torch.cuda.current_stream())
        try:
            with torch.cuda.stream(self.stream):
                yield
        finally:
            torch.cuda.current_stream().wait_stream(self.stream)

    def capture(self, body: Callable[[], None]) -> Callable[[], None]:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            body()
        return graph.replay


class EagerGraphs:
    """The capture's buffers and calls without a GPU: a replay runs the step's code again on
    the static buffers (tests; the arithmetic is the eager step's)."""

    def __init__(self) -> None:
        self.captures = 0

    def warmup(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def capture(self, body: Callable[[], None]) -> Callable[[], None]:
        self.captures += 1
        return body


class _Captured:
    """One batch shape's graph: its static inputs and the outputs its replays write."""

    def __init__(
        self, pack: Pack, backend: GraphBackend, images: Tensor, labels: Tensor, s_t: Tensor
    ) -> None:
        self.images = images.clone()  # same strides: the pack's memory format
        self.labels = labels.clone()
        self.s_t = s_t.clone()
        self.outputs: tuple[Tensor, Tensor] | None = None

        def body() -> None:
            self.outputs = step_gradients_and_update(pack, self.images, self.labels, self.s_t)

        self.replay = backend.capture(body)

    def __call__(self, images: Tensor, labels: Tensor, s_t: Tensor) -> tuple[Tensor, Tensor]:
        self.images.copy_(images)
        self.labels.copy_(labels)
        self.s_t.copy_(s_t)
        self.replay()
        assert self.outputs is not None  # written by the capture
        return self.outputs


class CapturedStep:
    """``train_step`` of one pack, each batch shape captured once and then replayed. The
    losses and logits it returns are the graph's output buffers: read them (as the epoch loop
    does, into its on-device sums) before the next step overwrites them."""

    def __init__(self, pack: Pack, backend: GraphBackend) -> None:
        for run in pack.runs:
            for group in run.optimizer.param_groups:
                if not isinstance(group["lr"], Tensor):
                    raise ValueError("build the pack's optimizers with cuda_graphs set")
        self.pack, self.backend = pack, backend
        self.graphs: dict[tuple[torch.Size, torch.Size], _Captured] = {}
        self.eager_steps: Counter[tuple[torch.Size, torch.Size]] = Counter()

    def __call__(
        self, images: Tensor, labels: Tensor, lrs: Sequence[float], s_t: Tensor
    ) -> tuple[Tensor, Tensor]:
        self.pack.set_lrs(lrs)  # fills the device learning rates, outside the graph
        shape = (images.shape, labels.shape)
        graph = self.graphs.get(shape)
        if graph is None:
            if self.eager_steps[shape] < WARMUP_STEPS:
                self.eager_steps[shape] += 1
                with self.backend.warmup():
                    return step_gradients_and_update(self.pack, images, labels, s_t)
            graph = self.graphs[shape] = _Captured(self.pack, self.backend, images, labels, s_t)
        return graph(images, labels, s_t)


def step_for(pack: Pack) -> Step:
    """The pack's training step: captured with ``cuda_graphs``, else the eager ``train_step``."""
    if pack.runs[0].cfg.cuda_graphs:
        return CapturedStep(pack, CudaGraphs(pack.env.device))
    return functools.partial(train_step, pack)
