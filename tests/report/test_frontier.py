"""The quality-cost frontier: the Pareto front on known points, and the figure and caption
drawn from a results file's runs."""

from __future__ import annotations

import json

from roundtable.report import render
from roundtable.report.figures import frontier_points, pareto_front
from roundtable.results import Results
from tests.helpers import results_stub


def test_the_front_holds_the_arms_no_other_beats_on_both_cost_and_score():
    # (parameters, bits per byte): c is beaten by b (fewer parameters and a lower score), d ties a
    points = {"a": (135e6, 1.0), "b": (8e5, 1.2), "c": (9e5, 1.3), "e": (3.3e5, 1.25), "d": (135e6, 1.0)}
    assert pareto_front(points, cheaper_is_lower=True, lower_is_better=True) == {"a", "b", "e", "d"}
    # (tokens per second, bits per byte): faster is cheaper; f is beaten by g, faster and better
    speeds = {"a": (18.0, 1.0), "f": (900.0, 1.3), "g": (1470.0, 1.25)}
    assert pareto_front(speeds, cheaper_is_lower=False, lower_is_better=True) == {"a", "g"}
    # ROUGE, higher is better: the larger model with the lower ROUGE is off the front
    rouge = {"big": (1e8, 0.20), "small": (1e6, 0.25)}
    assert pareto_front(rouge, cheaper_is_lower=True, lower_is_better=False) == {"small"}


def _run(arm: str, bpb: float, params: int, speed: float | None) -> dict:
    run = {"arm": arm, "seed": 0, "fraction": 1.0, "status": "ok", "budget_share": 1.0, "params": params,
           "model": arm, "run_dir": f"runs/{arm}", "recipe": {"name": arm, "learning_rate": 1e-3}, "trainable_params": params, "steps": 10,
           "train_seconds": 1.0, "train_tokens": 100, "train_bytes": 100, "train_flops": 1e9, "eval_seconds": 1.0,
           "checkpoint_bytes": 4 * params, "curve": [{"step": 10, "seconds": 1.0, "train_tokens": 100, "train_bytes": 100, "flops": 1e9,
                                             "scope": "full", "valid_bits_per_byte": bpb}],
           "final": {"valid_bits_per_byte": bpb}}
    if speed:
        run["generation"] = {"tokens_per_second": speed, "bytes_per_second": speed}
    return run


def test_the_report_draws_the_frontier_and_names_its_arms(tmp_path):
    runs = [_run("finetune", 1.0, 135_000_000, 18.0), _run("scratch-transformer", 1.3, 800_000, 900.0),
            _run("scratch-lstm", 1.25, 330_000, 1470.0)]
    stub = results_stub(runs=runs, task_facts={"primary_metric": "valid_bits_per_byte", "lower_is_better": True,
                                               "unit": "bits per byte", "extra_metrics": []})
    (tmp_path / "results.json").write_text(json.dumps(stub))
    points = frontier_points(Results.from_dict(stub))
    assert points["params"]["scratch-lstm"] == (330_000.0, 1.25)
    render(tmp_path)
    page = (tmp_path / "report.md").read_text()
    assert (tmp_path / "plots" / "frontier.png").stat().st_size > 0
    # scratch-transformer is bigger, slower and worse than the LSTM: off both fronts
    assert "against size: finetune, scratch-lstm; against generation speed: finetune, scratch-lstm" in page
