"""The methods `rsmooth bench` times: every registered part of a method, each on top of plain
SGD (docs/methods.md §5), derived from the registries (a part registered tomorrow is timed
without a line changed here), plus the loss part's options."""

from __future__ import annotations

from typing import Any

from rsmooth.config import RunConfig
from rsmooth.parts import load_parts
from rsmooth.registry import Registry

# The registries whose parts make a method, and the setting that turns each option of the loss
# part on (label smoothing 0.1 as in the paper's Table 3; a flood level).
METHOD_PARTS = ("loss", "anneal", "grad_transform", "step_rule", "optimizer")
LOSS_OPTIONS: dict[str, dict[str, Any]] = {
    "label-smoothing": {"label_smoothing": 0.1},
    "flooding": {"flood": 0.02},
}


def catalogue(registries: dict[str, Registry]) -> dict[str, dict[str, Any]]:
    """Method name -> its config changes on top of plain SGD: 'sgd', each registered part that
    is not SGD's own (named by the part, e.g. sam, agr, logistic), then the loss options."""
    methods: dict[str, dict[str, Any]] = {"sgd": {}}
    defaults = RunConfig().to_dict()
    for field in METHOD_PARTS:
        for name in registries[field].names():
            if name != defaults.get(field) and name not in methods:
                methods[name] = {field: name}
    return {**methods, **LOSS_OPTIONS}


METHODS = catalogue(load_parts())


def target(changes: dict[str, Any]) -> float:
    """The step time relative to SGD a method should stay within (docs/performance.md): its
    step rule's gradient evaluations (SAM and F/B-GR 2, GR-DB 3), plus 5%."""
    from rsmooth.methods import STEP_RULES

    rule = changes.get("step_rule", "plain")
    return 1.05 * float(STEP_RULES.info(rule).get("gradient_evaluations", 1))
