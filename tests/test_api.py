"""The public API in rsmooth/__init__.py: stable names, resolved lazily (no torch at import)."""

import inspect
import subprocess
import sys

import pytest

import rsmooth


@pytest.mark.parametrize("name", [n for n in rsmooth.__all__ if n != "__version__"])
def test_every_public_name_resolves(name):
    assert getattr(rsmooth, name) is not None


def test_stable_signatures():
    assert list(inspect.signature(rsmooth.anneal).parameters) == ["u", "dist", "mu", "b"]
    params = inspect.signature(rsmooth.residual_smoothing_loss).parameters
    assert list(params)[:5] == ["logits", "target", "s", "alpha", "detach_kappa"]
    assert params["detach_kappa"].default is True


def test_unknown_attribute_fails():
    with pytest.raises(AttributeError):
        rsmooth.not_a_thing  # noqa: B018


def test_importing_rsmooth_does_not_import_torch():
    code = "import sys, rsmooth; sys.exit(9 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
