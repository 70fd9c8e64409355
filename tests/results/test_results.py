"""roundtable.results: results.json read into typed records once, and its published schema.

Every results.json the test suite writes is checked against the schema after each test
(conftest.py); the tests here check that check, the schema's strictness, that the
schema ships in the package, and the records' explicit defaults for older files.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from roundtable.results import (
    RESULTS,
    SCHEMA,
    CurvePoint,
    MalformedResults,
    Results,
    load_results,
    schema,
    validate,
)
from tests.helpers import finished_run, results_files, results_stub, schema_problem

ROOT = Path(__file__).resolve().parents[2]


def _complete() -> dict:
    """A finished two-arm comparison as roundtable writes it."""
    verdict = {"metric": "valid_bits_per_byte", "winner": "scratch-lstm", "runner_up": "scratch-transformer",
               "margin": 0.5, "ci95": [0.4, 0.6], "separated": True, "fraction": 1.0, "crossing_fraction": None,
               "means": {"scratch-lstm": 7.0, "scratch-transformer": 7.5}, "arm_ci95": {"scratch-lstm": [6.9, 7.1],
               "scratch-transformer": None}, "sentence": "Train the LSTM from scratch.", "warnings": []}
    runs = [finished_run("scratch-lstm", final={"valid_bits_per_byte": 7.0}),
            finished_run("scratch-transformer", final={"valid_bits_per_byte": 7.5})]
    return results_stub(complete=True, runs=runs, verdict=verdict)


# -- the schema -------------------------------------------------------------------------------
def _error(data: dict) -> str | None:
    try:
        validate(data)
    except jsonschema.ValidationError as e:
        return "/".join(map(str, e.absolute_path)) + ": " + e.message
    return None


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert _error(_complete()) is None and _error(results_stub()) is None


@pytest.mark.parametrize("break_it, where", [
    (lambda d: d.pop("runs"), "'runs' is a required property"),
    (lambda d: d["runs"][0].update(seed="0"), "runs/0/seed"),
    (lambda d: d["runs"][0].pop("final"), "'final' is a required property"),  # a finished run has its scores
    (lambda d: d["runs"][0].update(status="done"), "runs/0/status"),
    (lambda d: d["runs"][1].update(status="diverged", error="nan"), "'diverged_step' is a required property"),
    (lambda d: d["runs"][0]["curve"][0].update(step=1.5), "runs/0/curve/0/step"),
    (lambda d: d["verdict"].update(ci95=[0.4]), "verdict/ci95"),
    (lambda d: d.update(verdict=None), "verdict"),  # complete: there is a verdict
    (lambda d: d["budget"].update(kind="minutes"), "budget/kind"),
    (lambda d: d["environment"].update(threads="8"), "environment/threads"),
])
def test_the_schema_catches_a_wrong_type_or_a_missing_key(break_it, where):
    data = _complete()
    data["environment"] = {"threads": 8}
    broken = copy.deepcopy(data)
    break_it(broken)
    assert _error(data) is None
    assert where in (_error(broken) or "valid")


def test_the_schema_allows_fields_added_later():
    data = _complete()
    data["a_new_block"] = {"x": 1}
    data["runs"][0]["a_new_measurement"] = 3.5
    data["verdict"]["a_new_clause"] = "text"
    assert _error(data) is None


@pytest.mark.off_schema
def test_the_suite_checks_every_results_file_it_writes(request, tmp_path):
    """The check conftest.py runs after every test finds a file that breaks the schema;
    this test writes one on purpose, so it is marked to be left out."""
    assert "every_results_json_follows_the_schema" in request.fixturenames
    good, bad = tmp_path / "good" / RESULTS, tmp_path / "deep" / "er" / RESULTS
    for path, data in ((good, _complete()), (bad, {**_complete(), "complete": "yes"})):
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "good" / "tensorboard").mkdir()
    assert sorted(results_files(tmp_path)) == sorted([good, bad])
    assert schema_problem(good) is None
    assert schema_problem(bad).startswith(f"{bad}: complete: 'yes' is not of type 'boolean'")


def test_the_schema_ships_in_the_package_and_the_readme_links_it():
    shipped = resources.files("roundtable.results").joinpath(SCHEMA)
    assert json.loads(shipped.read_text(encoding="utf-8")) == schema()
    assert '"roundtable.results" = ["schema.json"]' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "roundtable/results/schema.json" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_built_wheel_holds_the_schema(tmp_path):
    """Built from a copy, so the checkout gets no build/ or egg-info folder."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "roundtable", src / "roundtable", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                           str(tmp_path), str(src)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("roundtable-*.whl")
    assert "roundtable/results/schema.json" in zipfile.ZipFile(wheel).namelist()


# -- the records ------------------------------------------------------------------------------
def test_a_file_as_roundtable_writes_it_reads_into_records():
    r = Results.from_dict(_complete())
    assert (r.task, r.complete, [x.arm for x in r.runs]) == ("lm", True, ["scratch-lstm", "scratch-transformer"])
    assert r.verdict.ci95 == (0.4, 0.6) and r.verdict.arm_ci95 == {"scratch-lstm": (6.9, 7.1), "scratch-transformer": None}
    run = r.runs[0]
    assert (run.ok, run.steps, run.recipe.learning_rate, run.bits_per_byte) == (True, 4, 1e-3, 7.0)
    assert run.generations_file == "runs/scratch-lstm-seed0-frac1/generations.jsonl"
    assert r.budget.kind == "seconds" and r.forecast is None and r.baselines.pretrained == {}


def test_missing_fields_take_explicit_defaults_and_raw_keeps_everything():
    """An older or unfinished file: what it lacks (or holds as null) is not measured, not zero."""
    raw = {"task": "lm", "runs": [{"arm": "scratch-lstm", "seed": 1, "fraction": 0.5, "status": "diverged",
                                   "final": None, "curve": [{"step": 0, "valid_bits_per_byte": 8.0, "extra": 1}],
                                   "error": "loss became nan at step 3", "new_field": [1, 2]}],
           "verdict": None}
    r = Results.from_dict(raw)
    assert (r.complete, r.verdict, r.forecast, r.data, r.lr_search, r.raw) == (False, None, None, {}, {}, raw)
    assert (r.budget.kind, r.baselines.pretrained, r.flops_formula, r.ladder) == ("seconds", {}, None, ())
    (run,) = r.runs
    assert (run.name, run.status, run.steps, run.train_seconds, run.params, run.final, run.bits_per_byte) == (
        "scratch-lstm-seed1-frac0.5", "diverged", None, None, None, {}, None)
    assert (run.recipe.learning_rate, run.generation, run.samples, run.budget_share) == (None, None, (), 1.0)
    assert run.raw["new_field"] == [1, 2] and run.error == "loss became nan at step 3"
    assert run.curve == (CurvePoint(step=0, valid_bits_per_byte=8.0),)
    assert run.curve[0].subset_bits_per_byte is None and run.curve[0].seconds is None
    assert run.curve[0].raw["extra"] == 1


def test_not_a_number_reads_as_not_measured():
    """roundtable writes NaN as null; a file that holds NaN reads the same."""
    data = _complete()
    data["runs"][0]["final"]["valid_bits_per_byte"] = math.nan
    data["verdict"]["margin"] = math.inf
    r = Results.from_dict(json.loads(json.dumps(data)))
    assert r.runs[0].bits_per_byte is None and r.verdict.margin is None


@pytest.mark.parametrize("change, message", [
    (lambda d: d["runs"][1].update(seed="1"), r"runs\[1\]\.seed: expected an integer, got str \"1\""),
    (lambda d: d["runs"][0].update(steps=2.5), r"runs\[0\]\.steps: expected an integer"),
    (lambda d: d.update(complete="yes"), "complete: expected true or false"),
    (lambda d: d["verdict"]["means"].update({"scratch-lstm": "7"}), r"verdict\.means\.scratch-lstm: expected a number"),
    (lambda d: d["runs"][0]["curve"].append(3), r"runs\[0\]\.curve\[1\]: expected an object"),
])
def test_a_wrong_type_is_an_error_that_says_where(change, message):
    data = _complete()
    change(data)
    with pytest.raises(MalformedResults, match=message):
        Results.from_dict(data)


@pytest.mark.off_schema
def test_load_results_names_the_file_it_could_not_read(tmp_path):
    (tmp_path / RESULTS).write_text('{"task": 1}', encoding="utf-8")
    with pytest.raises(MalformedResults, match=rf"{tmp_path / RESULTS}: task: expected a string"):
        load_results(tmp_path)
    (tmp_path / RESULTS).write_text("{", encoding="utf-8")
    with pytest.raises(MalformedResults, match="Expecting property name"):
        load_results(tmp_path / RESULTS)


def test_what_readers_ask_of_a_task_is_what_the_file_carries():
    """results.json carries its task's facts; a file without them reads the built-in
    table, which says what the tasks themselves declare."""
    from roundtable.results.records import KNOWN_TASK_FACTS
    from roundtable.tasks import LMTask, SummarizeTask, task_class

    for name in ("lm", "summarize"):
        assert KNOWN_TASK_FACTS[name] == task_class(name).facts()
    assert Results(task="lm").facts.primary_metric == LMTask.primary_metric and not Results(task="lm").has_rouge
    assert Results(task="summarize").facts.extra_metrics == SummarizeTask.extra_metrics
    assert Results(task="summarize").has_rouge and not Results(task="summarize").facts.lower_is_better
    assert Results(task="no-longer-registered").facts.unit == "bits per byte"  # an old file still reads as bits per byte
    own = Results.from_dict({"task": "tail", "task_facts": {"primary_metric": "tail_acc", "lower_is_better": False,
                                                           "unit": "accuracy", "extra_metrics": ["tail_acc"]}})
    assert (own.facts.primary_metric, own.facts.lower_is_better, own.facts.extra_metrics) == (
        "tail_acc", False, ("tail_acc",))
