"""The scratch transformer's size for a budget: ``size: auto`` (``shape_for``).

A scratch arm of a fixed size is the best from-scratch model only at one budget: below
it the model is too big to train far, above it too small to use the compute, and the
verdict would then credit pretraining with what is really model size. So the size is
chosen from the budget in FLOPs ``C`` and the unique training tokens ``U`` by one
documented rule, the one a practitioner sizing a nanoGPT/LitGPT model would use:

    choose the shape s of the family minimising  L(N_s, D_s, U),  D_s = C / f_s

where ``N_s`` is the shape's parameters in matrix multiplies (the tied output head
included, as train/flops.py counts them), ``f_s`` its training FLOPs per token by
train/flops.py's formula (6 N + 6 n_layer x context x n_embd), and L the
data-constrained scaling law of Muennighoff et al. 2023 ("Scaling Data-Constrained
Language Models", NeurIPS 2023, eq. 5 and appendix: their fit of the Chinchilla form):

    L(N, D, U) = E + A / N'^alpha + B / D'^beta
    D' = U_D + U_D R_D* (1 - exp(-R_D / R_D*)),  U_D = min(U, D),  R_D = D / U_D - 1
    N' = U_N + U_N R_N* (1 - exp(-R_N / R_N*)),  U_N = min(U_D / r, N),  R_N = N / U_N - 1

with A = 521, E = 1.87, alpha = beta = 0.353, R_D* = 15.4, R_N* = 5.3: the values the
paper's repository publishes (huggingface/datablations, README, "Parametric Fit": A =
exp(6.2554), E = exp(0.6255), alpha = beta = 0.35266, R_D* = 15.388, R_N* = 5.3097), and
B = A r^beta, where r is the compute-optimal tokens per parameter on fresh data. Their B
(exp(7.3050) = 1488) makes r = 19.6, Chinchilla's ratio for models of 10M to 9B
parameters on BPE tokens. Ours is measured: TOKENS_PER_PARAM = 10, on a grid of six
shapes (1 x 32 to 4 x 128) by four budgets (1e11 to 3e12 FLOPs) on two corpora that the
bench's check does not use (``python -m bench.sizing --calibrate``): with r = 19.6 the
rule chose a model too small at 1e12 FLOPs on both (0.22 and 0.09 bits per byte worse
than the best), with r = 10 every choice was within 0.013 of the best measured (r = 8
and 14 each missed one). Only the rule's argmin is used, and with alpha = beta it
depends on A and B through r alone.

- Fresh data (D <= U): D' = D, and with alpha = beta the optimum of A/N^a + B/D^a under
  C = 6ND is D/N = r = (B/A)^(1/alpha): Hoffmann et al. 2022 ("Training Compute-Optimal
  Large Language Models", the Chinchilla rule, about 20 tokens per parameter in their
  setting, 10 measured in ours), N_opt = sqrt(C / (6 r)).
- Repeated data: a token seen a k-th time is worth less (R_D* = 15.4: up to about 4
  epochs, D' is within 10% of fresh data; past about 16, little is left), and
  parameters beyond U/r, what U unique tokens can feed, are worth less still (R_N* =
  5.3 < R_D*): so once C asks for more than a few epochs, the rule spends the compute
  on more epochs of a smaller model than Chinchilla's, as Muennighoff et al. found.

The law's loss is in nats per token of their data and models; only its argmin is used,
which is what the bench checks on this project's data (``python -m bench --only
sizing``, docs/benchmarks.md). The family: ``n_embd`` a multiple of HEAD_DIM (64), one
head per 64 widths (``n_head = n_embd / 64``: the head size of GPT-2 and Llama), and an
aspect ratio ``n_embd / n_layer`` in ASPECT (32 to 64, GPT-2's 33 to 64), which trains
well on a CPU (few, wide layers) and a GPU (multiples of 64); below it SMALLEST, 1 x 32
with one head of 32, for budgets of seconds. Kaplan et al. 2020 find the loss within a
few percent across aspect ratios of 20 to 200, but not at these sizes: on the
calibration grid one layer of 128 was 0.10 bits per byte worse than two of 64 at the
same budget, so the family stops at 64. Pure arithmetic, no torch: the forecast calls
``shape_for`` at its target budget.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

HEAD_DIM = 64
"""Width of one attention head: n_embd is a multiple of it, n_head = n_embd / HEAD_DIM."""
ASPECT = (32, 64)
"""Smallest and largest n_embd / n_layer in the family."""
MAX_EMBD = 4096
"""The widest shape in the family (about 6B parameters at aspect 32)."""

A, E, ALPHA, BETA = 521.0, 1.87, 0.353, 0.353
"""Muennighoff et al. 2023's fit of the Chinchilla law L = E + A / N^alpha + B / D^beta."""
R_D_STAR, R_N_STAR = 15.4, 5.3
"""Muennighoff et al. 2023: how fast repeated tokens and excess parameters lose their worth."""
TOKENS_PER_PARAM = 10.0
"""The compute-optimal tokens per parameter on fresh data for byte-level transformers of
20k to 800k parameters, measured on the calibration grid (Chinchilla's is about 20)."""
PUBLISHED_TOKENS_PER_PARAM = (1488.0 / A) ** (1 / ALPHA)
"""Muennighoff et al.'s own ratio, from their B = 1488: about 19.6."""
RULE = ("Muennighoff et al. 2023 data-constrained law over the Hoffmann et al. 2022 (Chinchilla) form, at 10 "
        "tokens per parameter on fresh data (measured): the shape minimising E + A/N'^a + B/D'^b at D = budget FLOPs "
        "/ FLOPs per token")


@dataclass(frozen=True)
class Shape:
    n_layer: int
    n_embd: int

    @property
    def n_head(self) -> int:
        return max(1, self.n_embd // HEAD_DIM)

    def __str__(self) -> str:
        return f"{self.n_layer} x {self.n_embd}"


SMALLEST = Shape(1, HEAD_DIM // 2)
"""Below the family's multiples of 64: one layer of 32, one head, for budgets of seconds
(at 1e11 FLOPs it beat 1 x 64 by 0.10 to 0.28 bits per byte on the calibration grid)."""


def mlp_width(n_embd: int) -> int:
    """The SwiGLU hidden width arms/transformer.py builds: 8/3 n_embd, rounded up to a multiple of 8."""
    return 8 * ((8 * n_embd // 3 + 7) // 8)


def matmul_params(n_layer: int, n_embd: int, vocab_size: int) -> int:
    """Parameters in matrix multiplies of arms/transformer.py's model, as train/flops.py
    counts them: per layer q, k, v, o (4 d^2) and the SwiGLU's three (3 d x mlp_width);
    the tied embedding once, as the output head."""
    return n_layer * (4 * n_embd**2 + 3 * n_embd * mlp_width(n_embd)) + vocab_size * n_embd


def flops_per_token(shape: Shape, vocab_size: int, context: int) -> float:
    """Training FLOPs per token, train/flops.py's formula (Kaplan et al. 2020)."""
    return 6.0 * matmul_params(shape.n_layer, shape.n_embd, vocab_size) + 6.0 * shape.n_layer * context * shape.n_embd


def predicted_loss(params: float, tokens: float, unique_tokens: float,
                   tokens_per_param: float = TOKENS_PER_PARAM) -> float:
    """Muennighoff et al. 2023's L(N, D, U) (the module's docstring), in their units, with
    B = A r^beta for ``tokens_per_param`` r (the calibration tries several)."""
    u_d = min(unique_tokens, tokens)
    d_eff = u_d + u_d * R_D_STAR * (1 - math.exp(-(tokens / u_d - 1) / R_D_STAR))
    u_n = min(u_d / tokens_per_param, params)
    n_eff = u_n + u_n * R_N_STAR * (1 - math.exp(-(params / u_n - 1) / R_N_STAR))
    return E + A / n_eff**ALPHA + A * tokens_per_param**BETA / d_eff**BETA


def family(max_embd: int = MAX_EMBD) -> list[Shape]:
    """Every shape the rule may choose, smallest first."""
    shapes = [SMALLEST]
    for n_embd in range(HEAD_DIM, max_embd + 1, HEAD_DIM):
        lo, hi = ASPECT
        shapes += [Shape(n_layer, n_embd) for n_layer in range(max(1, math.ceil(n_embd / hi)), n_embd // lo + 1)]
    return shapes


@dataclass(frozen=True)
class Sizing:
    """The rule's choice and its inputs, as results.json records them per run."""

    shape: Shape
    budget_flops: float
    unique_tokens: int
    vocab_size: int
    context: int
    params: int
    """Matrix-multiply parameters of the shape (train/flops.py's N)."""
    tokens: float
    """Training tokens the budget buys at this shape: budget_flops / FLOPs per token."""
    epochs: float
    tokens_per_param: float
    """tokens / params at the choice; TOKENS_PER_PARAM is the rule's ratio on fresh data."""

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(shape=str(self.shape), n_layer=self.shape.n_layer, n_embd=self.shape.n_embd,
                 n_head=self.shape.n_head, rule=RULE, rule_tokens_per_param=TOKENS_PER_PARAM)
        return d


def shape_for(budget_flops: float, unique_tokens: float, vocab_size: int, context: int,
              shapes: list[Shape] | None = None) -> Sizing:
    """The family's shape the rule chooses for ``budget_flops`` of training on
    ``unique_tokens`` tokens of training text (the arm's own tokens), with the arm's
    vocabulary and context (its block, in tokens)."""
    if budget_flops <= 0 or unique_tokens <= 0:
        raise ValueError(f"budget_flops and unique_tokens must be positive, got {budget_flops}, {unique_tokens}")

    def loss(s: Shape) -> float:
        n = matmul_params(s.n_layer, s.n_embd, vocab_size)
        return predicted_loss(n, budget_flops / flops_per_token(s, vocab_size, context), unique_tokens)

    best = min(shapes or family(), key=lambda s: (loss(s), s.n_embd, s.n_layer))
    n = matmul_params(best.n_layer, best.n_embd, vocab_size)
    tokens = budget_flops / flops_per_token(best, vocab_size, context)
    return Sizing(best, float(budget_flops), int(unique_tokens), vocab_size, context, n, tokens,
                  tokens / unique_tokens, tokens / n)


def flops_for_tokens(tokens: float) -> float:
    """The compute of a budget given in tokens ``D``: that whose compute-optimal model
    trains on exactly D tokens, C = 6 D^2 / r (N = D / r, C = 6 N D). A token budget does
    not bound compute, so a bigger model would always do better on it; this asks the
    model that a compute budget would pair with those tokens."""
    return 6.0 * tokens**2 / TOKENS_PER_PARAM


MFU_ESTIMATE = 0.3
"""The share of the measured matmul peak a small transformer's training reaches, to turn a
wall-clock budget into FLOPs before anything has trained (the sizing bench measured it)."""


def budget_flops(kind: str, value: float, bytes_per_token: float, tokens_per_step: float,
                 flops_per_second: float | None) -> tuple[float, str]:
    """(training FLOPs, how they were had) of one run's budget for the rule: FLOPs as
    they are; tokens, bytes (over the arm's bytes per token) and optimizer steps (of
    ``tokens_per_step``) as ``flops_for_tokens``; wall-clock seconds at
    ``flops_per_second`` (the measured matmul peak times MFU_ESTIMATE: on another machine,
    or under load, another size may be chosen for the same seconds, which results.json
    records beside the choice)."""
    if kind == "flops":
        return value, "the budget in FLOPs"
    if kind in ("tokens", "bytes", "steps"):
        tokens = value / bytes_per_token if kind == "bytes" else value * tokens_per_step if kind == "steps" else value
        return flops_for_tokens(tokens), f"{tokens:.4g} training tokens, as 6 D^2 / {TOKENS_PER_PARAM:.1f}"
    if kind == "seconds" and flops_per_second:
        return value * flops_per_second, (f"{value:g} s at {flops_per_second / 1e9:.3g} GFLOP/s (measured matmul "
                                          f"peak x {MFU_ESTIMATE:g})")
    raise ValueError(f"a budget of kind {kind!r} cannot be turned into FLOPs")
