"""Typed configuration: data, arms, budget, output; the single source of every setting.

Each setting is one dataclass field below: its name, type and default are the field's,
and its help text is the field's ``metadata["help"]``. ``settings()`` walks the fields
(into the nested DataConfig, BudgetConfig and SearchConfig) and lists them with their
flag: ``metadata["flag"]``, or ``--`` and the field's name with dashes. The command line
(cli.py) adds one argparse option per setting, with the help text and "(default X)"
shown from the field's default; ``build_config`` builds a CompareConfig from
settings by name, wherever they come from: flags, a YAML/JSON file (``load_config_file``,
the same names with underscores or dashes), the Python API's keyword arguments, or a
sharded comparison's comparison.json. Each dataclass converts its own fields to their
annotated types in ``__post_init__`` (``_check_types``, one function for every class,
over ``core.convert``, the conversion results.json's records use too),
so text from a flag and a value from a file or a call become the same value, or the
same one-line UserError naming the setting.

Why a walk over ``dataclasses.fields`` and not a library: ``HfArgumentParser`` maps a
flat dataclass to flags named after its fields, whereas these settings are nested
(``--lr-search-share`` is ``SearchConfig.share``), renamed (``--data`` is
``DataConfig.path``) and in two places compound (``--budget`` sets one of seconds,
tokens or FLOPs; ``--arms`` with a config file's ``arm_settings`` makes ArmConfigs);
jsonargparse and simple-parsing handle nesting, but with dotted flags
(``--lr_search.share``) that would change the command line, and each is a new
dependency. The walk is some sixty lines and keeps every flag as it was.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import typing
from collections.abc import Callable
from dataclasses import MISSING, Field, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from roundtable.core.convert import ConversionError, convert, hints, optional_of
from roundtable.core.errors import UserError

SCHEDULES = ("constant", "linear", "cosine", "wsd")
SIZES = ("fixed", "auto")
"""A scratch transformer's size: as given, or chosen for the budget (arms/sizing.py)."""

DEFAULT_MODEL = "smollm2-135m"
"""The offline default pretrained model (arms/pretrained.py says where it comes from)."""


def choices_of(choices: Any) -> tuple | None:
    """A setting's choices: a tuple, or a function giving them (a registry)."""
    return choices() if callable(choices) else choices


SECTIONS = {
    "data": ("your data", "where the text comes from and how it is split"),
    "summarize": ("summarize only (--task summarize)", "records of a document and its summary"),
    "arms": ("arms", "what is compared, and what every arm shares"),
    "budget": ("budget", "the same for every run (arm x seed x fraction), the learning-rate search included"),
    "evidence": ("evidence", "how much is measured: seeds, the curve, the text scored, the forecast"),
    "deployment": ("deployment limit", "the same verdict among the arms a deployment can afford"),
    "output": ("output", "where results go and what is kept"),
    "machine": ("machine and scale-out", "where the runs run; the same precision for every arm"),
}
"""The command line's help groups, in order: by what the user is deciding (key: title, description)."""


def setting(default: Any = MISSING, *, help: str, factory: Any = MISSING, **cli: Any) -> Any:
    """A dataclass field that is a setting, with its one help text. ``cli`` may hold ``flag``
    (default: ``--`` and the field's name with dashes; None: set by another setting),
    ``section`` (its help group in SECTIONS; default: its dataclass's ``SECTION``),
    ``choices``, ``const`` (the value of the flag given alone), ``unset`` (what a None
    default means, for the help) and ``show`` (how the help prints the default)."""
    metadata = {"help": help, **cli}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def parse_budget_spec(text: str | float | int) -> tuple[str, float]:
    """``--budget`` as (kind, value): wall-clock seconds (``90s``, ``10m``, ``1.5h``),
    training bytes of the user's text (``5MB``, ``500kB``: decimal units), training
    tokens (``5Mtok``, ``200ktok``) or FLOPs (``2e15flop``). Bytes, tokens and FLOPs do
    not depend on the machine or its load, so another machine reproduces them; bytes
    alone give every arm the same text whatever its tokenizer."""
    number = r"\s*(\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*"
    m = re.fullmatch(number + r"([kMGT]?)\s*(tok|tokens|flop|flops)\s*", str(text))
    b = re.fullmatch(number + r"([kKmMgGtT]?)[bB]\s*", str(text))
    match = m or b  # the two patterns exclude each other (a unit of tokens or FLOPs, or a B)
    if match:
        prefix = match.group(2).upper()
        value = float(match.group(1)) * {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[prefix]
        if value <= 0:
            raise UserError(f"--budget must be positive, got {text!r}")
        return ("bytes" if b else "tokens" if match.group(3).startswith("tok") else "flops"), value
    return "seconds", parse_budget(text)


BUDGET_UNITS = ("use seconds (90s, 10m, 1.5h), training bytes (B, kB, MB or GB: 5MB), tokens (5Mtok) or FLOPs "
                "(2e15flop)")


def parse_budget(text: str | float | int) -> float:
    """Wall-clock budget per arm in seconds: ``90s``, ``10m``, ``1.5h``. A bare number is
    refused: ``10`` could as well mean ten minutes, ten megabytes or ten thousand tokens."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*", str(text))
    if not m:
        raise UserError(f"cannot parse --budget {text!r}: {BUDGET_UNITS}")
    if m.group(2) is None:
        raise UserError(f"--budget {text!r} has no unit: {BUDGET_UNITS}")
    seconds = float(m.group(1)) * {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[m.group(2)]
    if seconds <= 0:
        raise UserError(f"--budget must be positive, got {text!r}")
    return seconds


@dataclass
class DataConfig:
    """Where the text comes from and how it is split."""

    SECTION = "data"
    path: str = setting(help="training data: a .txt/.md file, a folder of text files, or .jsonl/.json/.csv records",
                        flag="--data")
    valid: str | None = setting(None, help="validation data, in the same formats",
                                unset="a document-level split of --data")
    valid_fraction: float = setting(0.1, help="share of documents held out for validation when --valid is not given")
    split_seed: int = setting(0, help="seed of the document-level split and of the nested --fractions")
    text_field: str = setting("text", help="record field holding the text")
    document_field: str = setting("document", section="summarize", help="record field holding the document")
    summary_field: str = setting("summary", section="summarize", help="record field holding the summary")
    encoding_errors: str = setting("strict", choices=("strict", "replace"),
                                   help="undecodable bytes: strict (stop with an error) or replace")
    skip_bad_records: bool = setting(False, help="skip (and count) unusable records instead of stopping with an error")

    def __post_init__(self) -> None:
        _check_types(self)
        if not 0.0 < self.valid_fraction < 1.0:
            raise UserError(f"--valid-fraction must be between 0 and 1, got {self.valid_fraction}")


@dataclass
class BudgetConfig:
    """The same budget for every run (arm x seed x fraction): its arm's own learning-rate
    search's share (Comparison.reserve), then training. Evaluation time is not charged to it."""

    SECTION = "budget"

    seconds: float | None = setting(
        120.0, flag="--budget", show=lambda s: f"{s:g}s",
        help="per run, with a unit: wall clock (90s, 10m, 1.5h), training bytes of your text (5MB, 500kB), tokens "
             "(5Mtok) or FLOPs (2e15flop); bytes, tokens and FLOPs reproduce on another machine, and bytes give "
             "every arm the same text whatever its tokenizer",
    )
    max_steps: int | None = setting(None, help="optimizer steps per run, as well as --budget or instead of it "
                                               "(compare without --budget: no time limit)")
    tokens: float | None = setting(None, flag=None, help="training tokens per run (non-padding): --budget 5Mtok")
    bytes: float | None = setting(None, flag=None, help="training bytes per run: UTF-8 bytes of the text trained on "
                                                        "(non-padding tokens), whatever the tokenizer: --budget 5MB")
    flops: float | None = setting(None, flag=None,
                                  help="estimated training FLOPs per run: --budget 2e15flop")
    curve_points: int = setting(3, section="evidence", help="evaluations between step 0 and the end, at regular intervals of the budget")
    curve_eval_bytes: int = setting(20_000, section="evidence",
                                    help="validation bytes scored at intermediate curve points (0: all of them)")
    eval_share: float = setting(
        0.1, section="evidence", help="with a wall-clock budget, the most of it one whole-text score of the slowest arm may take: the "
                  "validation text scored for the verdict is cut to fit, the same bytes for every arm, from scoring "
                  "speeds measured at start-up (0: score all of it)",
    )

    def __post_init__(self) -> None:
        _check_types(self)
        if self.seconds is None and self.max_steps is None and self.tokens is None and self.bytes is None \
                and self.flops is None:
            raise UserError("give a --budget or --max-steps")
        if self.max_steps is not None and self.max_steps <= 0:
            raise UserError(f"--max-steps must be positive, got {self.max_steps}")
        if self.curve_points < 0:
            raise UserError("--curve-points must be >= 0")
        if self.curve_eval_bytes < 0:
            raise UserError("--curve-eval-bytes must be >= 0")
        if self.eval_share < 0:
            raise UserError("--eval-share must be >= 0")

    @property
    def by_steps(self) -> bool:
        """Only a step limit: curve points and checkpoints at fixed steps, not at shares of time."""
        return bool(self.max_steps) and not (self.seconds or self.tokens or self.bytes or self.flops)

    @property
    def kind(self) -> tuple[str, float]:
        """(kind, value) of the limit that defines the budget, as results.json records it."""
        for kind, value in (("seconds", self.seconds), ("tokens", self.tokens), ("bytes", self.bytes),
                            ("flops", self.flops)):
            if value:
                return kind, value
        return "steps", float(self.max_steps or 0)  # __post_init__ asks for a limit: here, steps

    def scaled(self, share: float, curve: bool = False) -> BudgetConfig:
        """A share of this budget (seconds, steps or both). Without ``curve``, no
        intermediate curve points: a learning-rate search slice, or a rung of the
        forecast's budget ladder; with it, a run's training once its search is set aside."""
        if share == 1.0 and curve:
            return self
        return BudgetConfig(
            seconds=self.seconds * share if self.seconds else None,
            max_steps=max(1, int(self.max_steps * share + 1e-9)) if self.max_steps else None,
            tokens=self.tokens * share if self.tokens else None, flops=self.flops * share if self.flops else None,
            bytes=self.bytes * share if self.bytes else None,
            curve_points=self.curve_points if curve else 0, curve_eval_bytes=self.curve_eval_bytes,
            eval_share=self.eval_share,
        )


MAX_RESERVE = 0.5
"""The most of a budget the learning-rate search may take: the rest trains."""


@dataclass
class SearchConfig:
    """How much tuning every arm gets: the same for all (lrsearch.py), and paid for out of
    the same budget as its training."""

    SECTION = "budget"

    rates: int = setting(3, flag="--lr-search",
                         help="learning rates tried per arm on short slices, centred on the recipe's on a half-decade "
                              "grid, the same for every arm (0 or 1: off, and all of the budget goes to training)")
    share: float = setting(0.1, flag="--lr-search-share",
                           help="each search slice's budget as a share of a run's; an arm's slices come out of its own "
                                "runs' budget, and it trains on the rest")
    min_steps: int = setting(30, flag="--lr-search-min-steps",
                             help="a slice of fewer optimizer steps cannot tell rates apart: the recipe's rate is kept")
    tie: float = setting(0.02, flag="--lr-search-tie",
                         help="rates whose slice score is within this share of the best count as tied: the largest "
                              "tied rate is chosen where the schedule decays (a short slice favours small rates), "
                              "else the recipe's rate if tied")

    def __post_init__(self) -> None:
        _check_types(self)
        if self.rates < 0 or self.min_steps < 1 or not 0.0 < self.share <= 1.0 or self.tie < 0:
            raise UserError("--lr-search must be >= 0, --lr-search-share in (0, 1], --lr-search-min-steps >= 1, "
                            "--lr-search-tie >= 0")
        if self.reserve > MAX_RESERVE:
            raise UserError(f"--lr-search {self.rates} slices of --lr-search-share {self.share:g} would take "
                            f"{self.reserve:.0%} of each budget; keep it to {MAX_RESERVE:.0%} or less")

    @property
    def reserve(self) -> float:
        """The most of a budget the search can take (every slice of it run)."""
        return self.rates * self.share if self.rates > 1 else 0.0


RECIPE = ("learning_rate", "weight_decay", "batch_size", "block_size", "eval_stride", "schedule", "warmup_fraction",
          "max_grad_norm")
"""ArmConfig's fields that every arm takes: the one training path's and the one
evaluator's. Every other field is some arm's own setting (its model's size, its
tokenizer, its adapters), which its row in the arm table names (``ArmSpec.settings``)."""


@dataclass
class ArmConfig:
    """How one arm is built and trained. Defaults per arm come from its row in the arm
    table (``roundtable.arms.arm_defaults``), which also checks the name and says which
    of the fields after the recipe (RECIPE) the arm takes: the settings know no arm."""

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
    size: str = "fixed"
    """fixed: n_layer, n_embd and n_head as given; auto (scratch-transformer's default,
    unless its shape is given): chosen from the comparison's budget in FLOPs and the
    training text's size by a compute-optimal rule for small, repeated data
    (arms/sizing.py), which then sets all three."""
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

    def __post_init__(self) -> None:
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
        if self.size not in SIZES:
            raise UserError(f"arm {self.name}: size must be one of {', '.join(SIZES)}, got {self.size!r}")


def _check_types(obj: Any, where: str = "") -> None:
    """Convert every field to its annotated type, in place, and check it against the
    field's choices: values from flags arrive as text, values from YAML/JSON files and
    keyword arguments loosely typed. A value that does not convert is a one-line
    UserError naming the setting (its flag, else the field), after ``where`` (e.g.
    "arm scratch-lstm")."""
    prefix = f"{where}: " if where else ""
    cls: type = type(obj)
    for f in fields(obj):
        kind = hints(cls)[f.name]
        if _is_config(kind):
            continue
        label = _flag(f) or f.name
        value = _convert(getattr(obj, f.name), kind, label, prefix)
        choices = choices_of(f.metadata.get("choices"))
        if choices and value not in choices:
            raise UserError(f"{prefix}{label} must be one of {', '.join(choices)}, got {value!r}")
        setattr(obj, f.name, value)


def _is_config(kind: Any) -> bool:
    """A nested dataclass, or a list of them: built and checked by its own class."""
    return is_dataclass(kind) or (typing.get_origin(kind) is list and is_dataclass(typing.get_args(kind)[0]))


def _convert(value: Any, kind: Any, label: str, prefix: str = "") -> Any:
    """``value`` as ``kind`` (``core.convert``, loosely: text from a flag becomes a number), or
    a one-line UserError naming the setting and what to give."""
    try:
        return convert(value, kind, label, loose=True)
    except ConversionError:
        raise UserError(f"{prefix}cannot parse {label} {value!r}: give {_words(optional_of(kind)[0])}") from None


def _words(kind: Any) -> str:
    if typing.get_origin(kind) is list:
        item = typing.get_args(kind)[0]
        return f"{ {int: 'integers', float: 'numbers'}.get(item, 'names')}, comma-separated (or a list)"
    return {int: "an integer", float: "a number", bool: "true or false", str: "text"}.get(kind, str(kind))


def _flag(f: Field) -> str | None:
    """The option that sets field ``f``. None for fields that are not settings (ArmConfig's:
    arm_settings; the nested groups) or that another setting sets (tokens, bytes, flops: --budget)."""
    if "help" not in f.metadata:
        return None
    return f.metadata.get("flag", "--" + f.name.replace("_", "-"))


@dataclass
class CompareConfig:
    """One comparison: a task, its data, the arms, the budget, where results go."""

    # field(), not setting(): a required setting, which a type checker reads as one without a default
    task: str = field(metadata={"section": "data", "help": "lm (language modelling), summarize, or another "
                                                           "registered task"})
    data: DataConfig
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    arms: list[ArmConfig] = setting(
        factory=list, section="arms",
        help="comma-separated, from the list below; NAME#2 is a copy of an arm with other seeds (an A/A check)",
    )
    model: str = setting(DEFAULT_MODEL, section="arms", help="pretrained model: hub id, local folder, .gguf file, or "
                                             f"{DEFAULT_MODEL} (offline, installed with roundtable)")
    context_bytes: int = setting(
        1024, section="arms", help="context of every arm in UTF-8 bytes (lm): each arm's block in its own tokens is this divided by "
                   "its bytes per token on the training split, for training and the evaluation window alike, so no "
                   "arm is credited with more context than another",
    )
    allow_lossy_tokenizer: bool = setting(
        False, section="arms", help="accept a tokenizer that does not give the validation text back exactly (normalising, <unk>, "
                    "prefix space); bits per byte then score other text, and the report says so",
    )
    lr_search: SearchConfig = field(default_factory=SearchConfig)
    precision: str = setting(
        "auto", section="machine", choices=("auto", "fp32", "bf16"),
        help="auto: bf16 autocast (fp32 master weights) where a start-up probe finds bf16 matmul clearly faster "
             "(CUDA with bf16; CPUs with AMX or AVX512-BF16), else fp32; the same for every arm, in training and "
             "evaluation",
    )
    forecast_budget: str | None = setting(
        None, const="10x", unset="off", section="evidence",
        help="forecast each arm's score at this training budget: 2h, 600s or 4x (the flag alone: 10x); each arm also "
             "runs at 1/4 and 1/2 of the budget, each with its own schedule",
    )
    report_to: list[str] = setting(
        factory=lambda: ["tensorboard"], section="output",
        help="experiment trackers the runs log to, comma-separated: tensorboard, mlflow, wandb, trackio (each but "
             "tensorboard an extra: pip install 'roundtable[mlflow]')",
    )
    revision: str | None = setting(None, unset="the hub's default branch", section="arms",
                                   help="hub ids: the branch, tag or commit of --model, recorded in results.json")
    shard: str | None = setting(
        None, unset="all runs", section="machine",
        help="K/N: run only the K-th of N disjoint slices of the runs into the same --out (0 <= K < N; e.g. "
             "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)",
    )
    threads: int | None = setting(
        None, unset="OMP_NUM_THREADS where set, else the cores in the CPU affinity mask", section="machine",
        help="threads of every library that spins its own (torch intra- and inter-op, OpenMP, MKL, tokenizers); "
             "unset, shards of one comparison on one host divide its cores between them",
    )
    seeds: int = setting(1, section="evidence", help="runs per arm, with different seeds")
    max_params: int | None = setting(
        None, unset="no limit", section="deployment",
        help="the verdict also among the arms of at most this many parameters, naming those left out",
    )
    min_gen_tokens_per_s: float | None = setting(
        None, unset="no limit", section="deployment",
        help="the verdict also among the arms generating at least this many tokens/s here",
    )
    fractions: list[float] = setting(factory=lambda: [1.0], section="data",
                                     help="nested training-data fractions, comma-separated, e.g. 0.1,0.3,1.0")
    out: str = setting("roundtable-out", section="output", help="output folder")
    device: str = setting("auto", section="machine", choices=("auto", "cpu", "cuda", "mps"),
                          help="auto (CUDA, then MPS, then CPU), cpu, cuda or mps")
    trust_remote_code: bool = setting(False, section="arms", help="allow a hub model's own code to run")
    max_document_tokens: int = setting(
        768, flag="--max-document-bytes", section="summarize",
        help="documents are cut to this many UTF-8 bytes, the same bytes for every arm",
    )
    """In bytes: the field keeps its name, results.json's and resumed comparisons' key."""
    max_summary_tokens: int = setting(128, flag="--max-summary-bytes", section="summarize",
                                      help="summaries are cut to this many UTF-8 bytes")
    rouge_examples: int = setting(
        24, section="summarize", help="validation examples summarized and scored with ROUGE at each curve point"
    )
    num_beams: int = setting(1, section="summarize", help="beam search width (1: greedy decoding)")
    eval_batch_size: int = setting(8, section="machine", help="evaluation windows scored per forward pass")
    resume: bool = setting(False, section="output", help="continue the comparison in --out")
    overwrite: bool = setting(False, section="output", help="replace the comparison in --out")
    keep_models: str = setting(
        "best", section="output", choices=("all", "best", "none"),
        help="final models kept on disk: all, best (per arm: what generate and the report need) or none; a run's "
             "resume checkpoint is deleted when the run finishes",
    )

    def __post_init__(self) -> None:
        _check_types(self)
        if self.seeds < 1:
            raise UserError("--seeds must be >= 1")
        if self.threads is not None and self.threads < 1:
            raise UserError(f"--threads must be >= 1, got {self.threads}")
        if self.max_params is not None and self.max_params < 1:
            raise UserError(f"--max-params must be >= 1, got {self.max_params}")
        if self.min_gen_tokens_per_s is not None and self.min_gen_tokens_per_s <= 0:
            raise UserError(f"--min-gen-tokens-per-s must be positive, got {self.min_gen_tokens_per_s}")
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise UserError(f"--arms lists an arm twice: {','.join(names)}")
        for f in self.fractions:
            if not 0.0 < f <= 1.0:
                raise UserError(f"--fractions must lie in (0, 1], got {f}")
        self.fractions = sorted(set(self.fractions))
        if self.max_document_tokens < 1 or self.max_summary_tokens < 1:
            raise UserError("--max-document-bytes and --max-summary-bytes must be positive")
        if self.context_bytes < 2:
            raise UserError(f"--context-bytes must be at least 2, got {self.context_bytes}")
        if self.rouge_examples < 1 or self.num_beams < 1:
            raise UserError("--rouge-examples and --num-beams must be positive")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Setting:
    """One setting as the command line and config files name it, and the field it sets."""

    name: str
    """Config-file key and Python keyword: the flag without its dashes, ``-`` as ``_``."""
    flag: str
    path: tuple[str, ...]
    """Where the value goes: ``("lr_search", "rates")`` is CompareConfig.lr_search.rates."""
    kind: Any
    """The field's type (int, float | None, list[str], ...)."""
    default: Any
    """The field's default; MISSING for a required setting."""
    help: str
    group: type
    """The dataclass the field belongs to."""
    section: str = "data"
    """Its help group: a key of SECTIONS."""
    choices: tuple | None = None
    const: Any = None
    unset: str | None = None
    show: Any = None

    def default_text(self, default: Any = MISSING) -> str:
        """"(default X)" for the help, from the field's default (or another, e.g. the demo's)."""
        value = self.default if default is MISSING else default
        if value is MISSING:
            return "(required, here or in --config)"
        if value is None:
            return f"(default {self.unset or 'none'})"
        if self.show and default is MISSING:
            return f"(default {self.show(value)})"
        return f"(default {format_default(value)})"


def format_default(value: Any) -> str:
    """A default as the help prints it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(format_default(getattr(x, "name", x)) for x in value)
    return "none" if value is None else str(value)


@functools.cache
def settings() -> tuple[Setting, ...]:
    """Every setting, in the order of CompareConfig's fields (nested groups in place)."""
    found = []
    for f in fields(CompareConfig):
        kind = hints(CompareConfig)[f.name]
        inner: list[tuple[Field, Any, tuple[str, ...]]]
        if is_dataclass(kind):
            inner = [(g, kind, (f.name, g.name)) for g in fields(kind)]
        else:
            inner = [(f, CompareConfig, (f.name,))]
        for g, group, path in inner:
            flag = _flag(g)
            if flag is None:
                continue
            default = g.default if g.default is not MISSING else (
                g.default_factory() if g.default_factory is not MISSING else MISSING)
            meta = g.metadata
            found.append(Setting(
                name=flag.lstrip("-").replace("-", "_"), flag=flag, path=path, kind=hints(group)[g.name],
                default=default, help=meta["help"], group=group, section=meta.get("section", getattr(group, "SECTION", "")),
                choices=meta.get("choices"),
                const=meta.get("const"), unset=meta.get("unset"), show=meta.get("show"),
            ))
    names = [s.name for s in found]
    assert len(set(names)) == len(names), names  # one name, one setting
    return tuple(found)


ALIASES = {"max_document_tokens": "max_document_bytes", "max_summary_tokens": "max_summary_bytes"}
"""Old names of settings, still read (config files, keyword arguments, sharded comparisons'
comparison.json): these two always counted bytes."""


TASK_SECTIONS = ("summarize",)
"""Help groups that hold one task's own settings (named after the task)."""


def build_config(values: dict, make_arms: Callable[[list[str] | None, dict | None], list[ArmConfig]]) -> CompareConfig:
    """A CompareConfig from settings by name (``settings()``), wherever they come from:
    the flags given, a config file, the Python API's keyword arguments, comparison.json.
    None means not given. Besides the settings, ``arm_settings`` (config files): per arm,
    ArmConfig fields that replace the arm's recipe. ``make_arms(names, arm_settings)``
    turns the arm names (None: not given) into ArmConfigs: the arm table's work
    (``roundtable.arms.arm_configs``), so the settings know no arm."""
    s = {ALIASES.get(k, k): v for k, v in values.items() if v is not None}
    if not s.get("task"):
        raise UserError("give --task lm or --task summarize")
    if not s.get("data"):
        raise UserError("give --data PATH")
    by_name = {x.name: x for x in settings()}
    unknown = sorted(set(s) - set(by_name) - {"arm_settings"})
    if unknown:
        raise UserError(f"unknown setting(s): {', '.join(unknown)}{did_you_mean(unknown, [*by_name, 'arm_settings'])}")
    for name in sorted(s):  # a task's own setting changed for another task would be silently ignored
        st = by_name.get(name)
        if st is not None and st.section in TASK_SECTIONS and st.section != s["task"] \
                and _convert(s[name], st.kind, st.flag) != st.default:
            raise UserError(f"{st.flag} {format_default(s[name])}: a setting of --task {st.section}, not of "
                            f"--task {s['task']}")
    top: dict = {}
    nested: dict[str, dict] = {f.name: {} for f in fields(CompareConfig) if is_dataclass(hints(CompareConfig)[f.name])}
    for name, value in s.items():
        if name != "arm_settings":
            path = by_name[name].path
            (nested[path[0]] if len(path) == 2 else top)[path[-1]] = value
    budget = nested["budget"]
    if "seconds" in budget:  # --budget: wall-clock seconds, bytes, tokens or FLOPs
        kind, amount = parse_budget_spec(budget.pop("seconds"))
        budget.update({"seconds": None, kind: amount})
    elif "max_steps" in budget:
        budget["seconds"] = None  # a step limit alone: no time limit besides
    names = _convert(top.pop("arms"), list[str], "--arms") if "arms" in top else None
    arm_settings = s.get("arm_settings")
    if arm_settings is not None and not (
        isinstance(arm_settings, dict) and all(isinstance(v, dict) for v in arm_settings.values())
    ):
        raise UserError("setting arm_settings must map arm names to settings, e.g. {scratch-lstm: {lstm_hidden: 64}}")
    for name, kwargs in nested.items():
        top[name] = hints(CompareConfig)[name](**kwargs)
    return CompareConfig(arms=make_arms(names, arm_settings), **top)


def did_you_mean(wrong: list[str], known: list[str]) -> str:
    """"; did you mean X?" for the first misspelt name that is close to a known one, else ""."""
    for name in wrong:
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            return f"; did you mean {close[0]}?"
    return ""


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
