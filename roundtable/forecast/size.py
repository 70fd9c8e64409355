"""The forecast of an arm sized to its budget (``size: auto``) at a larger budget: the
shape the sizing rule chooses there, not the one trained.

An arm's curves say how the shape it trained goes on learning, but at the target the
rule would train another model, and the question the forecast answers ("what would a
scratch model do at that budget?") is about that one. No run of it exists, so the step
from the shape trained to the rule's shape at the target is taken from the Chinchilla
form with repeated data (Hoffmann et al. 2022; Muennighoff et al. 2023), in bits per
byte:

    delta = L(N_t, D_t) - L(N_0, D_0),   L(N, D) = A / N^alpha + B / D'^beta

(E cancels) where N is each shape's parameters in matrix multiplies (arms/sizing.py), D
the tokens it trains at the target (a budget in FLOPs or seconds buys C / its FLOPs per
token; in tokens, bytes or steps both train the same tokens, and the larger model costs
more FLOPs), and D' those tokens' effective data under repetition (R* = 15.4). The
forecast at the target is the trained shape's whole-curve forecast plus ``delta``;
SIZE_SHARE of |delta| joins the forecast's scale, since the law is fitted on other text.

A, alpha, B, beta are fitted on the sizing calibration grid by bench/sizing.py's
``fit_step_law`` (``python -m bench.sizing --calibrate`` emits it as
``sizing_step_law``): six shapes of 20k to 820k parameters at 3e11 to 3e12 FLOPs on the
Python reference's prose and the standard library's source, a Huber fit of log bits per
byte with one E per corpus, mean absolute error 0.11 (the unique tokens taken as 90% of
each corpus, its training share). With the 1e11 cells, runs of 18 to 650 steps still in
their first transient, the fit moves (A 74, alpha 0.38), but the step from 1 x 32 to 2 x
64 at the same tokens moves by 0.06 only. How well the sum forecasts the rule's shape:
``python -m bench.forecast --sized`` (docs/forecast.md).

The same form gives every arm's curve its floor: at a fixed size the loss against data
flattens towards E + A/N^alpha (``capacity_floor``, used by curvelaw.CAPACITY).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from roundtable.arms.sizing import TOKENS_PER_PARAM, Shape, flops_per_token, matmul_params, shape_for

A, ALPHA, B, BETA = 34.04, 0.288, 412.3, 0.428
"""The Chinchilla form's N and D terms in bits per byte, fitted on the sizing grid."""
R_STAR = 15.4
"""Effective data of repeated tokens in the fit (Muennighoff et al. 2023)."""
SIZE_SHARE = 0.3
"""The share of |delta| that enters the forecast's scale (bench/forecast.py --sized)."""
E_TEXT = 0.6
"""E of the same form: the bits per byte no model size or data removes. It is no property
of a model, so the grid's fit cannot give it for unseen text (its per-corpus Es are of
the grid's texts); 0.6 is about what large models reach on English and code, and was
chosen on the forecast bench's calibration forecasts (bench/forecast.py), where E of 0.3,
0.4, 0.5 and 0.6 gave mean errors of 0.078, 0.064, 0.054 and 0.050."""
E_RANGE = (0.3, 0.9)
"""E's plausible span on unseen text: the capacity floor at each end is one of the
alternatives whose spread joins a forecast's scale (forecast/arm.py)."""
DATA_KINDS = ("tokens", "bytes", "steps")
"""Budget kinds that fix the training tokens: every shape trains the same tokens."""


def law(params: float, tokens: float, unique_tokens: float) -> float:
    """A / N^alpha + B / D'^beta in bits per byte (no E: only differences are used)."""
    u = min(unique_tokens, tokens)
    d_eff = u + u * R_STAR * (1 - math.exp(-(tokens / u - 1) / R_STAR))
    return A / params**ALPHA + B / d_eff**BETA


def capacity_floor(params: float, e: float = E_TEXT) -> float:
    """E + A / N^alpha: the bits per byte a model of ``params`` parameters approaches with
    unlimited data. At a fixed size the form is L(D) = E + A/N^alpha + B/D'^beta, so its
    curve against data flattens towards this floor, which a short curve cannot show.
    ``params`` are all the model's parameters as a run records them, where the grid's fit
    counted those in matrix multiplies (for the bench's transformer, 117k against 116.7k)."""
    return e + A / max(float(params), 1.0) ** ALPHA


@dataclass(frozen=True)
class SizeTerm:
    """The sizing of an arm's runs, enough to size it again at another budget."""

    trained: Shape
    budget_flops: float
    """The FLOPs the rule sized the runs for (the budget less the search's reserve)."""
    unique_tokens: float
    vocab_size: int
    context: int
    data_budget: bool
    """The budget is in tokens, bytes or steps (``DATA_KINDS``)."""

    @classmethod
    def from_record(cls, record: dict, budget_kind: str) -> SizeTerm:
        """From a run's results.json ``sizing`` record and the comparison's budget kind."""
        return cls(Shape(int(record["n_layer"]), int(record["n_embd"])), float(record["budget_flops"]),
                   float(record["unique_tokens"]), int(record["vocab_size"]), int(record["context"]),
                   budget_kind in DATA_KINDS)

    def flops_at(self, multiple: float) -> float:
        """The rule's FLOPs at ``multiple`` times the budget: a token budget's compute is 6 D^2 / r."""
        return self.budget_flops * (multiple**2 if self.data_budget else multiple)

    @functools.lru_cache(maxsize=1024)  # noqa: B019  (a frozen value: the scale asks for the same budgets often)
    def shape_at(self, multiple: float) -> Shape:
        """The shape the rule chooses at ``multiple`` times the budget; the trained one up to the budget."""
        if multiple <= 1.0:
            return self.trained
        return shape_for(self.flops_at(multiple), self.unique_tokens, self.vocab_size, self.context).shape

    def params(self, shape: Shape) -> int:
        return matmul_params(shape.n_layer, shape.n_embd, self.vocab_size)

    def tokens(self, shape: Shape, multiple: float) -> float:
        """Tokens ``shape`` trains at ``multiple`` times the budget."""
        if self.data_budget:  # the inverse of sizing.flops_for_tokens
            return math.sqrt(self.budget_flops * TOKENS_PER_PARAM / 6.0) * multiple
        return self.flops_at(multiple) / flops_per_token(shape, self.vocab_size, self.context)

    def delta(self, multiple: float) -> float:
        """Bits per byte the rule's shape at ``multiple`` is forecast to score below the trained one's."""
        target = self.shape_at(multiple)
        if target == self.trained:
            return 0.0
        return (law(self.params(target), self.tokens(target, multiple), self.unique_tokens)
                - law(self.params(self.trained), self.tokens(self.trained, multiple), self.unique_tokens))

    def describe(self, multiple: float) -> dict:
        """What results.json records for the target."""
        target = self.shape_at(multiple)
        return {"trained": str(self.trained), "rule_at_target": str(target), "params_at_target": self.params(target),
                "budget_flops_at_target": self.flops_at(multiple), "tokens_at_target": self.tokens(target, multiple),
                "delta": self.delta(multiple)}
