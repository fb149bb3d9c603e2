"""The model zoo: every registered model is checked by the parametrized tests below."""

from __future__ import annotations

import pytest
import torch

from rsmooth.errors import ConfigError
from rsmooth.models import MODELS, build_model, count_parameters

ALL_MODELS = MODELS.names()
# (in_channels, num_classes, image size): CIFAR-10/SVHN, Fashion-MNIST, CIFAR-100.
DATA_SHAPES = [(3, 10, 32), (1, 10, 28), (3, 100, 32)]
# Tracing every model under dynamo takes ~3 s each; one per architecture stays in the fast set.
FAST_TRACE = {"resnet20", "densenet-bc-100"}


@pytest.fixture(autouse=True)
def _one_thread_and_seed() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)


@pytest.mark.parametrize("name", ALL_MODELS)
@pytest.mark.parametrize(("in_channels", "num_classes", "size"), DATA_SHAPES)
def test_forward_shape(name: str, in_channels: int, num_classes: int, size: int) -> None:
    model = build_model(name, in_channels=in_channels, num_classes=num_classes)
    with torch.no_grad():
        logits = model(torch.randn(2, in_channels, size, size))
    assert logits.shape == (2, num_classes)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", ALL_MODELS)
def test_smallest_supported_input(name: str) -> None:
    model = build_model(name, in_channels=3, num_classes=10)
    with torch.no_grad():
        assert model(torch.randn(2, 3, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_backward_gives_finite_grad_for_every_parameter(name: str) -> None:
    model = build_model(name, in_channels=3, num_classes=10)
    loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 3, 32, 32)), torch.tensor([1, 7]))
    loss.backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name
    # The loss must reach the first layer: a broken shortcut or concat would not stop this
    # test from passing the checks above (grads would be zeros, not None).
    first = next(p for p in model.parameters() if p.dim() == 4)
    assert first.grad.abs().sum() > 0


def cifar_resnet_parameters(depth: int, in_channels: int, num_classes: int) -> int:
    """Count from the architecture's definition (He et al. 2016, Sec. 4.2), independent of
    the module code: option-A shortcuts hold no parameters; each BN has 2 per channel."""
    blocks = (depth - 2) // 6
    total = 9 * in_channels * 16 + 2 * 16  # stem conv + BN
    in_planes = 16
    for planes in (16, 32, 64):
        for _ in range(blocks):
            total += 9 * in_planes * planes + 9 * planes * planes + 2 * (2 * planes)
            in_planes = planes
    return total + 64 * num_classes + num_classes


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
@pytest.mark.parametrize(("in_channels", "num_classes"), [(3, 10), (1, 10), (3, 100)])
def test_resnet_parameter_count_matches_architecture(
    depth: int, in_channels: int, num_classes: int
) -> None:
    model = build_model(f"resnet{depth}", in_channels=in_channels, num_classes=num_classes)
    assert count_parameters(model) == cifar_resnet_parameters(depth, in_channels, num_classes)


def test_resnet20_and_resnet56_exact_parameter_counts() -> None:
    # Option A (no shortcut parameters). Projection (option B: 1x1 conv + BN) shortcuts
    # would add 2,752 to both (272,474 and 855,770); 855,770 rounds to 0.86M, not 0.85M.
    assert count_parameters(build_model("resnet20", 3, 10)) == 269_722
    assert count_parameters(build_model("resnet56", 3, 10)) == 853_018


@pytest.mark.parametrize(
    ("name", "published", "printed_unit"),
    # He et al. 2016, Table 6 (CIFAR-10): 0.27M, 0.46M, 0.66M, 0.85M, 1.7M.
    [
        ("resnet20", 0.27e6, 0.01e6),
        ("resnet32", 0.46e6, 0.01e6),
        ("resnet44", 0.66e6, 0.01e6),
        ("resnet56", 0.85e6, 0.01e6),
        ("resnet110", 1.7e6, 0.1e6),
    ],
)
def test_resnet_parameter_count_rounds_to_published(
    name: str, published: float, printed_unit: float
) -> None:
    # The figures are printed to 2 significant digits, so "matches" means "rounds to it":
    # ResNet-110's 1,727,962 is 1.6% above 1.7M yet is exactly what the paper prints.
    count = count_parameters(build_model(name, 3, 10))
    assert abs(count - published) < printed_unit / 2


def test_densenet_bc_100_parameter_count() -> None:
    # Huang et al. 2017, Table 2: 0.8M; bearpaw/pytorch-classification reports 0.77M.
    count = count_parameters(build_model("densenet-bc-100", 3, 10))
    assert 750_000 <= count <= 820_000


def test_unknown_model_name_lists_valid_names() -> None:
    with pytest.raises(ConfigError) as caught:
        build_model("resnet18", in_channels=3, num_classes=10)
    message = str(caught.value)
    assert "resnet18" in message
    for name in ALL_MODELS:
        assert name in message


@pytest.mark.parametrize("name", ALL_MODELS)
def test_channels_last_matches_contiguous_in_eval(name: str) -> None:
    model = build_model(name, in_channels=3, num_classes=10).eval()
    images = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        expected = model(images)
        got = model.to(memory_format=torch.channels_last)(
            images.contiguous(memory_format=torch.channels_last)
        )
    # Untrained BN running stats (mean 0, var 1) let residual sums grow with depth,
    # so the tolerance is relative to the output's scale.
    scale = expected.abs().max().item()
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_bf16_autocast_forward(name: str) -> None:
    model = build_model(name, in_channels=1, num_classes=10)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(torch.randn(2, 1, 8, 8))
    assert logits.shape == (2, 10)
    assert torch.isfinite(logits.float()).all()


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=() if n in FAST_TRACE else pytest.mark.slow) for n in ALL_MODELS],
)
def test_forward_traces_as_one_graph(name: str) -> None:
    # fullgraph=True fails on any graph break (host sync, data-dependent Python branch);
    # the eager backend checks tracing without paying for code generation.
    model = build_model(name, in_channels=1, num_classes=10)
    images = torch.randn(2, 1, 28, 28)
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(images), model(images))
