"""A run's method as its folder describes it: the ``method`` block of summary.json
(docs/run-folder.md), read without torch.

The engine computes the block from the registries (rsmooth.identity.describe) and writes it
into every run's summary.json: its configuration identity (the config without seed, engine
fields and the fields no chosen part reads), its label and kind, whether it is plain, its
gradient evaluations per step, the titles of its model and data set. A run written before the
block existed, or whose block is damaged, is described here by rsmooth.identity, which imports
the parts (torch): only those runs pay for it. A block of the previous layout (schema 1) is
upgraded from the block alone (rsmooth.identity.upgraded), without torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rsmooth.config import field_names
from rsmooth.identity import (
    IDENTITY_EXCLUDED,
    METHOD_SCHEMA,
    config_key,
    fmt,
    identity_key,
    upgraded,
)
from rsmooth.runfolder import Run

__all__ = [
    "IDENTITY_EXCLUDED",
    "Method",
    "config_key",  # of a raw config (rsmooth.identity; tests/test_plugins.py imports it here)
    "fmt",
    "method_of",
    "setting_fields",
    "short_kind",
]
FIELD_ORDER = {name: i for i, name in enumerate(field_names())}


@dataclass(frozen=True)
class Method:
    """The method block of one run, checked."""

    label: str  # sgd + sam rho=0.05
    kind: str  # sgd + sam: the method without its grid values
    identity: dict[str, Any]  # the configuration: unused fields None, no seed or engine fields
    regularizers: tuple[str, ...]  # the fields of the regularizers that are on
    spelled: tuple[str, ...]  # fields a label spells; the others are the setting
    evaluations_per_step: int | None  # forward+backward passes per step; None: unknown
    model_title: str
    data_title: str
    data_epochs: int | None  # the data set's protocol epochs (the paper's), if known

    @property
    def key(self) -> str:
        return identity_key(self.identity)

    @property
    def optimizer(self) -> str:
        return str(self.identity.get("optimizer"))

    @property
    def plain(self) -> bool:
        """No regularizer on top of the optimizer (a baseline)."""
        return not self.regularizers

    @property
    def smoothing_only(self) -> bool:
        """SGD with residual smoothing alone: the paper's method."""
        return self.only("anneal")

    def only(self, regularizer: str) -> bool:
        """SGD with this one regularizer (``label_smoothing``, ``anneal``, ...) and no other."""
        return self.optimizer == "sgd" and self.regularizers == (regularizer,)

    @classmethod
    def from_block(cls, block: Any) -> Method:
        """The block as summary.json holds it (an older layout upgraded where that needs no
        registry); ValueError where it is not one."""
        if isinstance(block, Mapping):
            block = upgraded(block)
        if not isinstance(block, Mapping) or block.get("schema") != METHOD_SCHEMA:
            raise ValueError("no method block of this version")
        model, data = block.get("model"), block.get("data")
        if not isinstance(model, Mapping) or not isinstance(data, Mapping):
            raise ValueError("model or data is not a mapping")
        return cls(
            label=_typed(block.get("label"), str),
            kind=_typed(block.get("kind"), str),
            identity=dict(_typed(block.get("identity"), dict)),
            regularizers=tuple(_names(block.get("regularizers"))),
            spelled=tuple(_names(block.get("spelled"))),
            evaluations_per_step=_count(block.get("gradient_evaluations_per_step")),
            model_title=_typed(model.get("title"), str),
            data_title=_typed(data.get("title"), str),
            data_epochs=_count(data.get("default_epochs")),
        )


def _typed(value: Any, kind: type) -> Any:
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ValueError(f"{value!r} is not a {kind.__name__}")
    return value


def _names(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{value!r} is not a list of names")
    return value


def _count(value: Any) -> int | None:
    return None if value is None else int(_typed(value, int))


def method_of(run: Run) -> Method:
    """The run's method: its summary's block, or (an older run) computed from its config."""
    try:
        return Method.from_block((run.summary or {}).get("method"))
    except ValueError:
        return Method.from_block(_describe(run.config or {}))


def _describe(config: dict[str, Any]) -> dict[str, Any]:
    """The block of a run without one: the registries decide (imports torch), after the
    plugins its config names, where they can be imported here."""
    from rsmooth.identity import describe
    from rsmooth.plugins import load_recorded

    load_recorded([config.get("plugins")])
    return describe(config)


def short_kind(kind: str) -> str:
    """A kind without the implied ``sgd + `` prefix: ``smoothing laplace``."""
    return kind.removeprefix("sgd + ")


def setting_fields(methods: Iterable[Method]) -> list[str]:
    """The fields of these configurations that their labels do not spell (model, data, lr,
    weight decay, ...), in the config's order: the report shows those that vary as columns."""
    methods = list(methods)
    spelled = set().union(*(m.spelled for m in methods)) | set(IDENTITY_EXCLUDED)
    names = {name for m in methods for name in m.identity} - spelled
    return sorted(names, key=lambda name: (FIELD_ORDER.get(name, len(FIELD_ORDER)), name))
