"""Forecasts: each arm's score at the budget and data the user will really spend.

A comparison runs for minutes; the job it decides runs for hours. Who is ahead after
two minutes is mostly the pretrained model's zero-shot score against a barely trained
scratch model, so each arm is also trained at fractions of the budget (a *budget
ladder*, each run with its own full learning-rate schedule) and its final scores are
fitted with a law that saturates (Hoffmann et al. 2022, "Training Compute-Optimal
Large Language Models"):

    L(x) = E + A * (x / x_ref) ** -alpha

x is the effective training data (below), x_ref the largest measured x, so A is the
excess over the floor E at the largest measured point and the three parameters are of
similar scale. With three points the law interpolates; Besiroglu et al. 2024
("Chinchilla Scaling: A replication attempt") showed such constants are poorly
identified, so the fit is a MAP fit and every number comes with intervals:

- bounds: 0 <= E <= the best measured score (the floor cannot be below zero or above a
  score already reached), 0.05 <= alpha <= 2 (flatter laws are indistinguishable from a
  constant over a ladder of 4x; steeper ones are transients, not scaling);
- a weak prior, log(alpha) ~ N(log 0.3, 1) (Hoffmann's data exponent is 0.28,
  Besiroglu's 0.37), weighted against the points' noise: it decides only what the
  points leave open, e.g. a backtest fitted on two points;
- weights: each rung's independent noise, the run-to-run spread of one run's final
  score (with one seed it cannot be measured, so a floor of ``NOISE_FLOOR`` = 1% of
  the score; with more seeds their spread, if larger), over the number of seeds. The
  validation documents are the same for every rung, so their sampling noise moves all
  rungs together and does not weigh one rung against another;
- intervals: each replicate redraws the validation documents (the same draw for every
  rung and every arm: paired) and, per rung, the seeds with replacement (averaged);
  adds the run noise the redraw cannot see (one seed: the floor); draws the prior's
  centre from the prior ("randomised MAP", which samples the posterior of a
  linearised model); and refits. With more rungs than parameters, a residual scatter
  larger than the noise model says (chi-square per degree of freedom above 1) scales
  the run noise up. The forecast adds the noise of the target run itself: these are
  prediction intervals for a new run scored on text like the validation text (the
  document draw is part of them, as in the verdict's interval; for the very same
  validation text they are somewhat conservative);
- calibration by the backtest (refit without the largest budget, predict it): if the
  measured point fell z predictive sds from the prediction, every deviation from the
  central forecast is scaled by max(1, |z|). This is how the law's own error
  (misspecification, which no resampling of its inputs can show) enters the width: one
  backtest is one sample of it at 2x extrapolation, the bootstrap spread grows with the
  extrapolation distance, and scaling that spread is the smallest assumption that keeps
  a missed backtest from giving narrow intervals. On synthetic ladders drawn from the
  law (tests/forecast/test_forecast.py) the 80% interval covers about 80% of outcomes.

Data repetition: small data is seen for many epochs, and repeated tokens are worth
less than fresh ones. The law's axis is the effective data of Muennighoff et al. 2023
("Scaling Data-Constrained Language Models"), D' = U + U * R* * (1 - exp(-R / R*)),
U the unique training bytes, R the repetitions beyond the first epoch. Their R* = 15.4
was fitted on transformers of 10M-9B parameters; a model far too small to memorise
its data (the 330k-parameter LSTM) loses much less: on the one real ladder measured
(scratch-lstm, 40/80/160 steps on 460 kB of docstrings, forecast at 640 steps, 11
epochs) R* = 15.4 gave 2.55 bits per byte, no rule 2.42, the run 2.39. So R* itself
is uncertain: the replicates spread it evenly in 1/R* over [1/inf, 1/15.4] (five
values, ``R_STAR_RANGE``), the central fit takes the middle (R* = 30.8), and the
block also reports each end alone ("alternatives") so the benchmark can settle it.
D' never exceeds U * (1 + R*). Forecasts past ``EPOCHS_WARN`` epochs (Muennighoff: up
to about 4 repeats are as good as fresh data) are flagged, since a model may also
overfit, which no monotone law foresees.

Leaving the plateau: a small model's first rungs can sit on its initial plateau, so
that each doubling of the budget gains more than the one before (the curve is concave
in log-log). No law E + A * x^-alpha can follow that (its local log-log slope never
grows), and fitted to all rungs it forecasts too little gain. Where ``accelerating``
finds this, the arm is forecast by the local law instead: a power law without floor
(E = 0) through its last two rungs, which continues their log-log slope. Its replicates
and its backtest (the same law through the two rungs before the last) are made the
same way, and a missed backtest widens it like any other; the arm is marked
``plateau`` and the sentence never says the answer holds against it.

The same law, fitted against the unique training bytes of ``--fractions`` runs, gives
the score at 2x and 10x the user's data, and, inverted on the scratch arm, the
*effective data transferred* by pretraining (Hernandez et al. 2021, "Scaling Laws
for Transfer"). ``fit_annealing`` is the single-run alternative of Tissue et al. 2024
("Scaling Law with Learning Rate Annealing").

ROUGE-L (higher is better) is fitted as 1 - ROUGE-L with the same law, and shown
back as ROUGE-L.
"""

from __future__ import annotations

from roundtable.forecast.annealing import (
    AnnealingLaw,
    LRCurve,
    annealing_areas,
    fit_annealing,
    forecast_annealing,
    schedule_steps,
)
from roundtable.forecast.backtest import backtest, crossover, effective_data_transferred
from roundtable.forecast.block import METHOD, forecast_block
from roundtable.forecast.bootstrap import PLATEAU_NOTE, ArmFit, Axis, accelerating, forecast_data, forecast_ladder
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
from roundtable.forecast.sentences import arm_problem, fmt_budget, fmt_budget_range, forecast_sentence

__all__ = ['ALPHA_BOUNDS', 'ALPHA_PRIOR', 'AnnealingLaw', 'ArmFit', 'Axis', 'DataPoint', 'EPOCHS_WARN', 'HORIZON', 'LN2', 'LRCurve', 'Ladder', 'LadderPoint', 'Law', 'METHOD', 'NOISE_FLOOR', 'PLATEAU_NOTE', 'R_STAR', 'R_STAR_RANGE', 'SettingScores', 'accelerating', 'annealing_areas', 'arm_problem', 'backtest', 'crossover', 'effective_data', 'effective_data_transferred', 'fit_annealing', 'fit_law', 'fit_laws', 'fmt_budget', 'fmt_budget_range', 'forecast_annealing', 'forecast_block', 'forecast_data', 'forecast_ladder', 'forecast_sentence', 'higher_is_better', 'r_star_levels', 'schedule_steps']
