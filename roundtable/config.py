"""Typed configuration: data, arms, budget, output.

Every knob the CLI exposes lives here, validated once in ``__post_init__`` so the
rest of the code can trust it. ``load_config_file`` reads the same names from YAML
or JSON; command-line flags override the file.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from roundtable.arms import DEFAULT_MODEL, get_arm
from roundtable.errors import UserError

DEFAULT_ARMS = ("finetune", "scratch-lstm")
SCHEDULES = ("constant", "linear", "cosine", "wsd")


def parse_budget_spec(text: str | float | int) -> tuple[str, float]:
    """``--budget`` as (kind, value): wall-clock seconds (``90s``, ``10m``, ``1.5h``),
    training tokens (``5Mtok``, ``200ktok``) or FLOPs (``2e15flop``). Tokens and FLOPs
    do not depend on the machine or its load, so another machine reproduces them."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kMGT]?)\s*(tok|tokens|flop|flops)\s*", str(text))
    if m:
        value = float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[m.group(2)]
        if value <= 0:
            raise UserError(f"--budget must be positive, got {text!r}")
        return ("tokens" if m.group(3).startswith("tok") else "flops"), value
    return "seconds", parse_budget(text)


def parse_budget(text: str | float | int) -> float:
    """Wall-clock budget per arm in seconds: ``90``, ``90s``, ``10m``, ``1.5h``."""
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*", str(text))
        if not m:
            raise UserError(f"cannot parse --budget {text!r}: use e.g. 90s, 10m, 1.5h, 5Mtok or 2e15flop")
        unit = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, None: 1}[m.group(2)]
        seconds = float(m.group(1)) * unit
    if seconds <= 0:
        raise UserError(f"--budget must be positive, got {text!r}")
    return seconds


@dataclass
class DataConfig:
    """Where the text comes from and how it is split."""

    path: str
    """Training data: .txt/.md file, a folder of text files, or .jsonl/.json/.csv records."""
    valid: str | None = None
    """Validation data in the same formats; otherwise a document-level split of --data."""
    valid_fraction: float = 0.1
    """Share of documents held out for validation when --valid is not given."""
    split_seed: int = 0
    """Seed of the document-level split and of the nested data fractions."""
    text_field: str = "text"
    document_field: str = "document"
    summary_field: str = "summary"
    encoding_errors: str = "strict"
    """How undecodable bytes are handled: strict (error) or replace."""
    skip_bad_records: bool = False
    """Skip (and count) unusable records instead of stopping with an error."""

    def __post_init__(self):
        if not 0.0 < self.valid_fraction < 1.0:
            raise UserError(f"--valid-fraction must be between 0 and 1, got {self.valid_fraction}")
        if self.encoding_errors not in ("strict", "replace"):
            raise UserError(f"--encoding-errors must be strict or replace, got {self.encoding_errors!r}")


@dataclass
class BudgetConfig:
    """The same budget for every arm. Evaluation time is not charged to it."""

    seconds: float | None = 120.0
    """Wall-clock training seconds per run (arm x seed x fraction)."""
    max_steps: int | None = None
    """Optimizer steps per run; the alternative (or an extra cap) to seconds."""
    tokens: float | None = None
    """Training tokens per run (non-padding): a budget that does not depend on the machine."""
    flops: float | None = None
    """Estimated training FLOPs per run (see flops.py): likewise."""
    curve_points: int = 3
    """Evaluations between the step-0 and the final point, at regular intervals of the budget."""
    curve_eval_bytes: int = 20_000
    """Validation bytes scored at intermediate curve points (0: the whole text)."""

    def __post_init__(self):
        if self.seconds is None and self.max_steps is None and self.tokens is None and self.flops is None:
            raise UserError("give a --budget or --max-steps")
        if self.max_steps is not None and self.max_steps <= 0:
            raise UserError(f"--max-steps must be positive, got {self.max_steps}")
        if self.curve_points < 0:
            raise UserError("--curve-points must be >= 0")
        if self.curve_eval_bytes < 0:
            raise UserError("--curve-eval-bytes must be >= 0")

    @property
    def by_steps(self) -> bool:
        """Only a step limit: curve points and checkpoints at fixed steps, not at shares of time."""
        return bool(self.max_steps) and not (self.seconds or self.tokens or self.flops)

    @property
    def kind(self) -> tuple[str, float]:
        """(kind, value) of the limit that defines the budget, as results.json records it."""
        for kind, value in (("seconds", self.seconds), ("tokens", self.tokens), ("flops", self.flops)):
            if value:
                return kind, value
        return "steps", float(self.max_steps)

    def scaled(self, share: float) -> BudgetConfig:
        """A share of this budget (seconds, steps or both), with no intermediate curve
        points: a learning-rate search slice, or a rung of the forecast's budget ladder."""
        return BudgetConfig(
            seconds=self.seconds * share if self.seconds else None,
            max_steps=max(1, int(self.max_steps * share)) if self.max_steps else None,
            tokens=self.tokens * share if self.tokens else None, flops=self.flops * share if self.flops else None,
            curve_points=0, curve_eval_bytes=self.curve_eval_bytes,
        )


@dataclass
class SearchConfig:
    """How much tuning every arm gets: the same for all."""

    rates: int = 3
    """Rates tried per arm, centred on the recipe's on a half-decade grid (1 or 0: off)."""
    share: float = 0.1
    """Each slice's budget as a share of a run's budget (seconds or steps)."""
    min_steps: int = 30
    """A slice with fewer optimizer steps cannot tell rates apart: the recipe's rate is kept."""
    tie: float = 0.02
    """Rates whose slice score is within this share of the best one count as tied, and
    the largest of them is chosen: a short slice favours small rates over what a whole
    run would prefer (short-horizon bias, Wu et al. 2018)."""

    def __post_init__(self):
        if self.rates < 0 or self.min_steps < 1 or not 0.0 < self.share <= 1.0 or self.tie < 0:
            raise UserError("--lr-search must be >= 0, --lr-search-share in (0, 1], --lr-search-min-steps >= 1")


@dataclass
class ArmConfig:
    """How one arm is built and trained. Defaults per arm come from ``arm_defaults``."""

    name: str
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    batch_size: int = 4
    block_size: int | None = None
    """Training sequence length in the arm's own tokens, also its evaluation window.
    None (the default): derived from the comparison's --context-bytes and the arm's
    bytes per token measured on the training split, so every arm sees the same bytes."""
    eval_stride: float = 0.75
    """Sliding-window stride as a fraction of block_size: every scored token sees at
    least (1 - eval_stride) * block_size tokens of context, except at the start; each
    token costs 1 / eval_stride forward passes."""
    schedule: str = "linear"
    """Learning-rate schedule over the budget, part of the arm's recipe: constant,
    linear (warmup, then linear decay to 10%), cosine (warmup, then cosine decay to
    10%) or wsd (warmup, stable, then linear decay to 10% over the last 20%)."""
    warmup_fraction: float = 0.05
    """Linear warmup (from 10% of the rate) over this share of the budget."""
    max_grad_norm: float = 1.0
    tokenizer: str = "byte"
    """byte or bpe (trained on the train split); scratch arms only."""
    bpe_vocab_size: int = 4096
    n_layer: int = 4
    n_embd: int = 128
    n_head: int = 4
    """Small transformer size (scratch-transformer)."""
    lstm_embed: int = 128
    lstm_hidden: int = 128
    lstm_layers: int = 2
    dropout: float = 0.0
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    """0 by default: dropout on every adapted layer's input costs more than the whole
    adapter on CPU, and a budget of minutes is too short to overfit."""
    lora_target_modules: list[str] | None = None
    """None: the defaults for the model's architecture."""
    lora_merge: bool = False
    """Also save the adapter merged into the base weights (model-merged/), ready to serve."""

    def __post_init__(self):
        get_arm(self.name)  # an unknown arm: one line naming the registered ones
        _check_types(self, f"arm {self.name}")
        for k in ("learning_rate", "batch_size", "n_layer", "n_embd", "n_head", "lstm_embed", "lstm_hidden",
                  "lstm_layers", "bpe_vocab_size", "lora_r"):
            if getattr(self, k) <= 0:
                raise UserError(f"arm {self.name}: {k} must be positive")
        if self.block_size is not None and self.block_size < 2:
            raise UserError(f"arm {self.name}: block_size must be at least 2 (one token of context, one to predict)")
        if not 0.0 < self.eval_stride <= 1.0:
            raise UserError(f"arm {self.name}: eval_stride must be in (0, 1]")
        if self.schedule not in SCHEDULES:
            raise UserError(f"arm {self.name}: schedule must be one of {', '.join(SCHEDULES)}")
        if self.tokenizer not in ("byte", "bpe"):
            raise UserError(f"arm {self.name}: tokenizer must be byte or bpe")
        if self.n_embd % self.n_head:
            raise UserError(f"arm {self.name}: n_embd must be divisible by n_head")

    @property
    def uses_pretrained(self) -> bool:
        """Arms that need the pretrained model: its tokenizer, and its weights or architecture."""
        return get_arm(self.name).uses_pretrained


def _check_types(obj, where: str) -> None:
    """Values from YAML/JSON files arrive untyped: check them against the annotations."""
    kinds = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}
    for f in fields(obj):
        v = getattr(obj, f.name)
        want = kinds.get(str(f.type))
        if want and v is not None and (not isinstance(v, want) or (isinstance(v, bool) and bool not in want)):
            raise UserError(f"{where}: {f.name} must be {str(f.type)}, got {v!r}")


def arm_defaults(name: str, **overrides) -> ArmConfig:
    """The arm's recipe from its row in the arm table, with ``overrides``."""
    return ArmConfig(name=name, **{**get_arm(name).defaults, **overrides})


@dataclass
class CompareConfig:
    """One comparison: a task, its data, the arms, the budget, where results go."""

    task: str
    data: DataConfig
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    arms: list[ArmConfig] = field(default_factory=lambda: [arm_defaults(a) for a in DEFAULT_ARMS])
    model: str = DEFAULT_MODEL
    """Pretrained model: hub id, local folder, .gguf file, or smollm2-135m (offline default)."""
    context_bytes: int = 1024
    """Context of every arm in UTF-8 bytes (lm): each arm's block in its own tokens is
    this divided by its bytes per token on the training split, for training and for the
    evaluation window alike, so no arm is credited with more context than another."""
    allow_lossy_tokenizer: bool = False
    """Accept a tokenizer that does not give the validation text back exactly
    (normalising, <unk>, prefix space); bits per byte then score other text, and the
    report says so."""
    lr_search: SearchConfig = field(default_factory=SearchConfig)
    """The same learning-rate search for every arm (lrsearch.py)."""
    precision: str = "auto"
    """auto: bf16 autocast (fp32 master weights) where a start-up probe finds bf16 matmul
    clearly faster (CUDA with bf16; CPUs with AMX or AVX512-BF16), fp32 otherwise; the
    same choice for every arm, in training and evaluation. Or fp32, or bf16."""
    forecast_budget: str | None = None
    """Forecast each arm's score at this training budget (2h, 600s, or 10x the budget):
    each arm also runs at 1/4 and 1/2 of the budget, each with its own schedule."""
    report_to: list[str] = field(default_factory=lambda: ["tensorboard"])
    """Experiment trackers the Trainer logs to (tensorboard, mlflow, wandb, trackio)."""
    revision: str | None = None
    """Hub revision (branch, tag or commit) of --model, recorded in results.json."""
    shard: str | None = None
    """K/N: run only the K-th of N disjoint slices of the runs (shard.py), 0 <= K < N."""
    seeds: int = 1
    fractions: list[float] = field(default_factory=lambda: [1.0])
    out: str = "roundtable-out"
    device: str = "auto"
    trust_remote_code: bool = False
    max_document_tokens: int = 768
    """summarize: documents are cut to this many byte-level tokens (UTF-8 bytes), the
    same bytes for every arm (see summarize.py)."""
    max_summary_tokens: int = 128
    """summarize: summaries are cut to this many bytes."""
    rouge_examples: int = 24
    """summarize: validation examples summarized and scored with ROUGE at each curve point."""
    num_beams: int = 1
    """summarize: 1 is greedy decoding; more is beam search."""
    eval_batch_size: int = 8
    resume: bool = False
    overwrite: bool = False
    keep_models: str = "best"
    """Which final models stay on disk: all, best (per arm: what generate and the report
    need), or none. A run's resume checkpoint is deleted when the run finishes."""

    def __post_init__(self):
        from roundtable.tasks import task_class  # here: the tasks read this module

        task_class(self.task)  # an unknown task: one line naming the registered ones
        if self.seeds < 1:
            raise UserError("--seeds must be >= 1")
        if not self.arms:
            raise UserError("--arms is empty")
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise UserError(f"--arms lists an arm twice: {','.join(names)}")
        for f in self.fractions:
            if not 0.0 < f <= 1.0:
                raise UserError(f"--fractions must lie in (0, 1], got {f}")
        self.fractions = sorted(set(self.fractions))
        if self.keep_models not in ("all", "best", "none"):
            raise UserError(f"--keep-models must be all, best or none, got {self.keep_models!r}")
        if self.max_document_tokens < 1 or self.max_summary_tokens < 1:
            raise UserError("--max-document-tokens and --max-summary-tokens must be positive")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise UserError(f"--precision must be auto, fp32 or bf16, got {self.precision!r}")
        if self.context_bytes < 2:
            raise UserError(f"--context-bytes must be at least 2, got {self.context_bytes}")
        if self.rouge_examples < 1 or self.num_beams < 1:
            raise UserError("--rouge-examples and --num-beams must be positive")

    def to_dict(self) -> dict:
        return asdict(self)


def parse_arms(text: str, overrides: dict | None = None) -> list[ArmConfig]:
    overrides = overrides or {}
    names = [a.strip() for a in text.split(",") if a.strip()]
    for n in names:
        get_arm(n)
    known = {f.name for f in fields(ArmConfig)}
    arms = []
    for n in names:
        o = overrides.get(n, {})
        bad = set(o) - known
        if bad:
            raise UserError(f"unknown setting(s) for arm {n}: {', '.join(sorted(bad))}")
        arms.append(arm_defaults(n, **o))
    return arms


def parse_fractions(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"cannot parse --fractions {text!r}: use e.g. 0.1,0.3,1.0") from None


def load_config_file(path: str) -> dict:
    """Read a YAML or JSON file of CLI settings (same names, underscores or dashes)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config file not found: {path}")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
    except Exception as e:  # noqa: BLE001 - any parse error is the user's file
        raise UserError(f"{path}: cannot parse config: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: config must be a mapping of settings")
    return {k.replace("-", "_"): v for k, v in data.items()}
