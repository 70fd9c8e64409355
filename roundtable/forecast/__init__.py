"""Forecasts: each arm's score at the budget and data the user will really spend.

A comparison runs for minutes; the job it decides runs for hours. Who is ahead after
two minutes is mostly the pretrained model's zero-shot score against a barely trained
scratch model, so each arm's learning curves are fitted with a law that knows the
learning-rate schedule and extrapolated to the target budget:

- ``schedule.py``: a run's schedule as areas under its rate (S1) and its annealing (S2);
- ``curvelaw.py``: the law L0 + A * S1^-alpha - C * S2 (Tissue et al. 2024), its robust
  fit, and the choice among its variants by a backtest inside the curve;
- ``arm.py``: one arm's forecast (none from a run still in its first transient), its
  block-bootstrap replicates and intervals scaled by the split-conformal factors of
  ``calibration.json``;
- ``size.py``: for an arm sized to its budget, the step to the shape the sizing rule
  chooses at the target;
- ``ladder.py``: which runs a forecast needs (the main runs' curves; one extra short run
  for an arm whose rate decays) and the block built from a comparison's runs;
- ``block.py``, ``backtest.py``, ``sentences.py``: the results.json block, crossovers
  and transfer, the sentence;
- ``law.py``, ``bootstrap.py``: the saturating law E + A * x^-alpha on final scores
  (Hoffmann et al. 2022), with effective data under repetition (Muennighoff et al.
  2023): fitted across ``--fractions`` for the score against data and the data that
  pretraining is worth (Hernandez et al. 2021), and across a ladder of final scores as
  the baseline the accuracy bench compares against.

How it was measured and how to read it: docs/forecast.md.
"""

from __future__ import annotations

from roundtable.forecast.arm import ArmCurves, CurveForecast, RunInput, curve_inputs, forecast_arm
from roundtable.forecast.backtest import backtest, crossover, effective_data_transferred
from roundtable.forecast.block import METHOD, forecast_block
from roundtable.forecast.bootstrap import PLATEAU_NOTE, ArmFit, Axis, accelerating, forecast_data, forecast_ladder
from roundtable.forecast.curvelaw import CANDIDATES, Candidate, ScheduleLaw
from roundtable.forecast.law import (
    ALPHA_BOUNDS,
    ALPHA_PRIOR,
    EPOCHS_WARN,
    HORIZON,
    LN2,
    NOISE_FLOOR,
    R_STAR,
    R_STAR_RANGE,
    DataPoint,
    Ladder,
    LadderPoint,
    Law,
    SettingScores,
    effective_data,
    fit_law,
    fit_laws,
    higher_is_better,
    r_star_levels,
)
from roundtable.forecast.schedule import Schedule
from roundtable.forecast.sentences import arm_problem, fmt_budget, fmt_budget_range, forecast_sentence

__all__ = ['ALPHA_BOUNDS', 'ALPHA_PRIOR', 'ArmCurves', 'CANDIDATES', 'Candidate', 'CurveForecast', 'RunInput', 'Schedule', 'ScheduleLaw', 'curve_inputs', 'forecast_arm', 'ArmFit', 'Axis', 'DataPoint', 'EPOCHS_WARN', 'HORIZON', 'LN2', 'Ladder', 'LadderPoint', 'Law', 'METHOD', 'NOISE_FLOOR', 'PLATEAU_NOTE', 'R_STAR', 'R_STAR_RANGE', 'SettingScores', 'accelerating', 'arm_problem', 'backtest', 'crossover', 'effective_data', 'effective_data_transferred', 'fit_law', 'fit_laws', 'fmt_budget', 'fmt_budget_range', 'forecast_block', 'forecast_data', 'forecast_ladder', 'forecast_sentence', 'higher_is_better', 'r_star_levels']
