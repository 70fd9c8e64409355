"""trackers.py: --report-to beyond TensorBoard, read back through the tracker's own API.

MLflow works offline with a local file store (``MLFLOW_TRACKING_URI=file:...``); the
runs are tiny LSTM runs through the real training path with the tracker callbacks.
"""

from __future__ import annotations

import math

import pytest
import torch

from roundtable.arms import arm_defaults
from roundtable.arms.factory import ArmFactory
from roundtable.comparison.trackers import check_report_to, log_final, tracker_callbacks
from roundtable.config.settings import BudgetConfig
from roundtable.core.errors import Diverged, UserError
from roundtable.data.corpus import Record
from roundtable.evaluate.scorer import ArmEvaluator
from roundtable.tasks import LMTask
from roundtable.train.trainer import train_run

ARM = arm_defaults("scratch-lstm", lstm_embed=16, lstm_hidden=16, block_size=32, batch_size=4)
BUDGET = BudgetConfig(seconds=None, max_steps=4, curve_points=1)


def tiny_run(tmp_path, paragraphs, name: str, callbacks, poison: bool = False):
    """One scratch-lstm run of 4 steps; ``poison`` makes its first loss NaN (diverged)."""
    train, valid = [Record(text=p) for p in paragraphs[:40]], [Record(text=p) for p in paragraphs[400:405]]
    factory = ArmFactory("unused")  # scratch arms never load the pretrained model
    tok = factory.tokenizer(ARM, [r.text for r in train])
    data = LMTask().train_dataset(tok, train, ARM.block_size, ARM.name)
    ev = ArmEvaluator(full=LMTask().eval_set(tok, valid), subset=None, window=32, stride=24, progress=False)
    model = factory.model(ARM, tok, seed=0)
    if poison:
        with torch.no_grad():
            model.head.bias[5] = float("nan")
    return train_run(model, tok, data, ev, ARM, BUDGET, tmp_path / name, tmp_path / "tb" / name, seed=0,
                     device="cpu", progress=False, callbacks=callbacks)


def test_tensorboard_and_none_add_nothing_and_unknown_names_are_user_errors():
    assert check_report_to(["tensorboard", "none"]) == []
    assert tracker_callbacks(["tensorboard"], "r", {}) == []
    with pytest.raises(UserError, match="unknown --report-to 'neptune'; choose from tensorboard, none, mlflow"):
        check_report_to(["neptune"])


def test_a_tracker_that_is_not_installed_is_one_line_naming_the_extra(monkeypatch):
    import roundtable.comparison.trackers as trackers

    monkeypatch.setitem(trackers.TRACKERS, "wandb", ("roundtable_no_such_package", trackers.WandbTracker))
    with pytest.raises(UserError) as e:
        check_report_to(["tensorboard", "wandb"])
    assert str(e.value) == ("--report-to wandb: the roundtable_no_such_package package is not installed: "
                            "pip install 'roundtable[wandb]'")


def test_mlflow_runs_are_named_tagged_and_hold_curve_and_final_scores(tmp_path, paragraphs, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "roundtable-test")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps the file store behind this switch
    monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_tracking_uri", None)  # read the variable anew

    # a run that diverges never reaches the Trainer's train end: log_final closes its tracker run
    bad = tracker_callbacks(["tensorboard", "mlflow"], "scratch-lstm-seed1-frac1", {"arm": "scratch-lstm", "seed": 1,
                                                                                    "fraction": 1.0})
    with pytest.raises(Diverged):
        tiny_run(tmp_path, paragraphs, "bad", bad, poison=True)
    log_final(bad, {}, status="diverged")
    # the next run opens a tracker run of its own
    tags = {"arm": "scratch-lstm", "seed": 0, "fraction": 1.0}
    good = tracker_callbacks(["tensorboard", "mlflow"], "scratch-lstm-seed0-frac1", tags)
    outcome = tiny_run(tmp_path, paragraphs, "good", good)
    log_final(good, outcome.final)
    assert mlflow.active_run() is None

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("roundtable-test")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"scratch-lstm-seed0-frac1", "scratch-lstm-seed1-frac1"}
    r = runs["scratch-lstm-seed0-frac1"]
    assert r.info.status == "FINISHED"
    assert {k: r.data.tags[k] for k in ("arm", "seed", "fraction", "status")} == {
        "arm": "scratch-lstm", "seed": "0", "fraction": "1.0", "status": "ok"}
    # the final scores are the run's, exactly
    for k in ("valid_bits_per_byte", "valid_perplexity", "valid_token_accuracy"):
        assert r.data.metrics[f"final/{k}"] == pytest.approx(outcome.final[k], rel=1e-12), k
    # the Trainer's own logging went there too: the loss at steps 1.. and the curve point at step 2
    loss = client.get_metric_history(r.info.run_id, "loss")
    assert loss and loss[0].step == 1 and all(math.isfinite(m.value) for m in loss)
    curve = {m.step: m.value for m in client.get_metric_history(r.info.run_id, "eval_valid_bits_per_byte")}
    assert curve == {2: pytest.approx(outcome.curve.points[1]["valid_bits_per_byte"])}

    d = runs["scratch-lstm-seed1-frac1"]
    assert d.info.status == "FAILED" and d.data.tags["status"] == "diverged" and d.data.tags["seed"] == "1"
    assert not any(k.startswith("final/") for k in d.data.metrics)


def test_a_tracker_that_cannot_start_its_run_stops_with_one_line(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    from transformers import TrainerControl, TrainerState, TrainingArguments

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://tracker")
    monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_tracking_uri", None)
    (cb,) = tracker_callbacks(["mlflow"], "r", {})
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    with pytest.raises(UserError, match=r"^--report-to mlflow: cannot start a run: \S"):
        cb.on_train_begin(args, TrainerState(), TrainerControl(), model=None)


def test_report_to_is_a_comma_separated_flag():
    from roundtable.cli import _settings, build_parser, compare_config

    args = build_parser().parse_args(["compare", "--task", "lm", "--data", "x.txt", "--report-to", "tensorboard,mlflow"])
    assert compare_config(_settings(args)).report_to == ["tensorboard", "mlflow"]


def test_a_tracker_failing_at_the_end_costs_the_run_nothing(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    (cb,) = tracker_callbacks(["mlflow"], "r", {})
    cb.opened = True  # as after setup

    def broken(*a, **k):
        raise ConnectionError("tracking server went away\nsecond line")

    monkeypatch.setattr(cb, "_log", broken)
    assert log_final([cb], {"valid_bits_per_byte": 1.0}) == [
        "--report-to mlflow: could not log the final scores: tracking server went away"]


def test_a_comparison_reports_every_run_to_mlflow(tmp_path, lm_files, tiny_config, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    import roundtable

    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "comparison")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_tracking_uri", None)
    train, valid = lm_files
    results = roundtable.compare(
        task="lm", data=train, valid=valid, arms=["scratch-lstm", "scratch-transformer"], seeds=2, max_steps=2,
        lr_search=0, curve_eval_bytes=1500, config=tiny_config, out=tmp_path / "out", device="cpu",
        no_progress=True, log=None, report_to=["tensorboard", "mlflow"],
    )
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("comparison")
    logged = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert set(logged) == {r.name for r in results.runs} and len(logged) == 4
    for run in results.runs:
        r = logged[run.name]
        assert (r.info.status, r.data.tags["status"]) == ("FINISHED", "ok")
        assert (r.data.tags["arm"], r.data.tags["seed"], r.data.tags["fraction"]) == (
            run.arm, str(run.seed), str(run.fraction))
        assert r.data.metrics["final/valid_bits_per_byte"] == pytest.approx(run.bits_per_byte, rel=1e-12)
