"""rsmooth.identity: the method block a run's summary.json carries (what the readers of results
know of a run without torch), and rsmooth.report.labels, which reads it back."""

from __future__ import annotations

import json

import pytest

from rsmooth.identity import (
    METHOD_SCHEMA,
    config_key,
    describe,
    gradient_evaluations,
)
from rsmooth.parts import load_parts
from rsmooth.report.aggregate import group_runs
from rsmooth.report.labels import Method, method_of
from rsmooth.runfolder import read_run, read_runs
from tests.fixtures import config_dict, write_run


@pytest.mark.parametrize(
    ("fields", "label", "kind", "plain", "smoothing_only", "regularizers", "evaluations"),
    [
        ({}, "sgd", "sgd", True, False, [], 1),
        ({"optimizer": "adamw"}, "adamw", "adamw", True, False, [], 1),
        (
            {"anneal": "laplace", "b": 0.3},
            "sgd + smoothing global+local laplace b=0.3 alpha=1",
            "sgd + smoothing global+local laplace",
            False,
            True,
            ["anneal"],
            1,
        ),
        ({"step_rule": "sam"}, "sgd + sam rho=0.05", "sgd + sam", False, False, ["step_rule"], 2),
        (
            {"step_rule": "gr-backward"},
            "sgd + gr-backward γ=0.01 ε=0.01",
            "sgd + gr-backward",
            False,
            False,
            ["step_rule"],
            2,
        ),
        (
            {"step_rule": "gr-db"},
            "sgd + gr-db γ=0.01",
            "sgd + gr-db",
            False,
            False,
            ["step_rule"],
            3,
        ),
        ({"flood": 0.02}, "sgd + flood=0.02", "sgd + flood", False, False, ["flood"], 1),
        (
            {"optimizer": "adamw", "grad_transform": "agr"},
            "adamw + agr",
            "adamw + agr",
            False,
            False,
            ["grad_transform"],
            1,
        ),
        (
            {"label_smoothing": 0.1, "anneal": "logistic"},
            "sgd + label-smoothing eps=0.1 + smoothing global+local logistic b=0.5 alpha=1",
            "sgd + label-smoothing + smoothing global+local logistic",
            False,
            False,
            ["label_smoothing", "anneal"],
            1,
        ),
    ],
)
def test_the_block_says_what_the_method_is(
    fields, label, kind, plain, smoothing_only, regularizers, evaluations
):
    block = describe(config_dict(**fields))
    assert json.loads(json.dumps(block)) == block  # what summary.json holds, as it reads back
    assert block["schema"] == METHOD_SCHEMA
    method = Method.from_block(block)
    assert (block["label"], block["kind"], method.plain) == (label, kind, plain)
    assert method.smoothing_only == smoothing_only
    assert block["regularizers"] == regularizers
    assert block["gradient_evaluations_per_step"] == evaluations
    assert "seed" not in block["identity"] and "device" not in block["identity"]
    assert block["model"] == {"name": "resnet20", "title": "ResNet20"}
    assert block["data"] == {
        "name": "fashion-mnist",
        "title": "Fashion-MNIST",
        "default_epochs": 48,
    }
    assert {"optimizer", "anneal", "step_rule", "rho", "b"} <= set(block["spelled"])
    assert "weight_decay" not in block["spelled"]  # a setting: a column where it varies


def test_every_built_in_step_rule_declares_its_cost():
    """A step rule says, where it registers, how many gradient evaluations a step takes."""
    rules = load_parts()["step_rule"]
    expected = {"plain": 1, "sam": 2, "gr-forward": 2, "gr-backward": 2, "gr-db": 3}
    for name in rules:
        if rules.module(name).startswith("rsmooth."):
            assert gradient_evaluations({"step_rule": name}) == expected[name], name


def test_data_sets_and_models_are_titled_from_their_registration():
    block = describe(config_dict(model="densenet-bc-100", data="cifar100"))
    assert block["model"]["title"] == "DenseNet-BC-100"
    assert (block["data"]["title"], block["data"]["default_epochs"]) == ("CIFAR-100", 160)


def test_the_block_reads_back_as_the_method(tmp_path):
    run = read_run(write_run(tmp_path, "r", [50.0], step_rule="sam", rho=0.1))
    method = method_of(run)
    assert method == Method.from_block(describe(run.config or {}))
    assert (method.label, method.evaluations_per_step) == ("sgd + sam rho=0.1", 2)
    assert method.key == config_key(run.config or {})


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b.pop("method"),  # a run written before the block existed
        lambda b: b.update(method="sgd"),
        lambda b: b["method"].update(schema=METHOD_SCHEMA + 1),
        lambda b: b["method"].update(regularizers="anneal"),
        lambda b: b["method"].update(identity=[1, 2]),
        lambda b: b["method"]["model"].pop("title"),
        lambda b: b["method"].update(gradient_evaluations_per_step=True),
    ],
)
def test_a_run_without_a_sound_block_is_described_from_its_config(tmp_path, damage):
    """Its trials pool with the runs that carry the block: one configuration, one key."""
    write_run(tmp_path, "a", [50.0, 60.0], seed=0, step_rule="sam")
    old = write_run(tmp_path, "b", [52.0, 61.0], seed=1, step_rule="sam")
    summary = json.loads((old / "summary.json").read_text())
    damage(summary)
    (old / "summary.json").write_text(json.dumps(summary))
    (configuration,) = group_runs(read_runs([tmp_path]))
    assert configuration.n == 2 and configuration.label == "sgd + sam rho=0.05"
    with pytest.raises(ValueError):
        Method.from_block(summary.get("method"))


def test_the_block_is_what_the_report_groups_by(tmp_path):
    """The readers trust the block: its identity, not config.yaml, makes the configuration."""
    run = write_run(tmp_path, "r", [50.0], seed=0)
    summary = json.loads((run / "summary.json").read_text())
    summary["method"]["label"] = "a label only the block knows"
    (run / "summary.json").write_text(json.dumps(summary))
    (configuration,) = group_runs(read_runs([tmp_path]))
    assert configuration.label == "a label only the block knows"


def test_a_block_of_an_older_rsmooth_without_an_unused_field_is_the_same_configuration(tmp_path):
    """A field added to rsmooth later is absent from older blocks; where no chosen part reads
    it (None in newer blocks), the trials still pool."""
    write_run(tmp_path, "new", [50.0, 60.0], seed=0)
    older = write_run(tmp_path, "older", [52.0, 61.0], seed=1)
    summary = json.loads((older / "summary.json").read_text())
    assert summary["method"]["identity"]["rho"] is None  # plain SGD reads no SAM radius
    del summary["method"]["identity"]["rho"]
    (older / "summary.json").write_text(json.dumps(summary))
    (configuration,) = group_runs(read_runs([tmp_path]))
    assert configuration.n == 2


@pytest.mark.parametrize(
    ("fields", "schema_1_kind"),
    [
        ({"flood": 0.05}, "sgd + flood=0.05"),
        ({"loss": "ce", "flood": 0.01, "step_rule": "sam"}, "sgd (ce) + flood=0.01 + sam"),
        ({"label_smoothing": 0.1}, "sgd + label-smoothing"),
        ({"step_rule": "sam"}, "sgd + sam"),
    ],
)
def test_a_schema_1_block_reads_as_this_layout_without_the_registries(fields, schema_1_kind):
    """Schema 1 spelled the flood level in the kind; results written then are upgraded from
    the block alone (report and plot import no torch), to what the engine writes now."""
    block = describe(config_dict(**fields))
    old = {**block, "schema": 1, "kind": schema_1_kind}
    assert Method.from_block(old) == Method.from_block(block)


def test_a_block_of_an_unknown_layout_is_refused_so_the_run_is_described_afresh():
    block = describe(config_dict(flood=0.05))
    with pytest.raises(ValueError, match="no method block of this version"):
        Method.from_block({**block, "schema": 0})
