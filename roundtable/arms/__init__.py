"""Arms by name: one ``ArmSpec`` row per arm, one table that everything else reads.

An arm is its recipe (defaults over ``ArmConfig``), its family, the words the verdict
and the report use for it, and how it builds its tokenizer and model. Training,
evaluation and saving are the same code for every arm (train.py, evaluate.py), so a new
arm is one ``register_arm`` call (tests/arms/test_arms.py adds a toy one). ``NAME#K`` is copy
K of an arm, with its own seeds (``split_name``, ``run_seed``). This module stays
light: the builders import torch and transformers only when they run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from roundtable.config.settings import DEFAULT_MODEL, RECIPE, ArmConfig, did_you_mean
from roundtable.core.errors import UserError

if TYPE_CHECKING:
    from roundtable.arms.factory import ArmFactory

__all__ = ["ARM_FIELDS", "DEFAULT_MODEL", "ArmSpec", "arm_configs", "arm_defaults", "arm_names", "default_arms",
           "get_arm", "own_settings", "parse_arms", "register_arm", "run_seed", "split_name", "starts_pretrained", "unregister_arm",
           "uses_pretrained"]


@dataclass(frozen=True)
class ArmSpec:
    name: str
    family: str
    """pretrained: starts from the pretrained weights as they are (its step 0 is the
    pretrained model's score, the same for every seed); scratch: starts from random weights."""
    label: str
    """What the arm is, in a few words (the README's and the report's tables)."""
    advice: str
    """The verdict's advice when this arm wins, as a clause: "fine-tune the pretrained model"."""
    build_tokenizer: Callable[[ArmFactory, ArmConfig, list[str]], object]
    """(factory, arm, training texts) -> tokenizer with the task tokens."""
    build_model: Callable[[ArmFactory, ArmConfig, object, int], object]
    """(factory, arm, tokenizer, seed) -> model; every random draw from ``seed`` alone."""
    model_name: Callable[[str, ArmConfig], str]
    """(the comparison's --model, arm) -> the model's name in results.json."""
    defaults: dict = field(default_factory=dict)
    """The recipe: overrides of ArmConfig's defaults, known to train this arm well on small data."""
    uses_pretrained: bool = False
    """Needs the pretrained model (its tokenizer, and its weights or architecture)."""
    default: bool = False
    """Compared when --arms is not given (the demo's two arms)."""
    settings: tuple[str, ...] = ()
    """The ArmConfig fields this arm takes besides the recipe every arm shares (RECIPE):
    those its builders read. A config file's arm_settings may set these and the recipe's
    for this arm, and no other arm's; the report shows them under the arm."""

    def __post_init__(self) -> None:
        if self.family not in ("pretrained", "scratch"):
            raise ValueError(f"arm {self.name}: family must be pretrained or scratch, got {self.family!r}")
        own = set(ARM_FIELDS) - set(RECIPE)
        if not set(self.settings) <= own:
            raise ValueError(f"arm {self.name}: settings must be ArmConfig fields outside the recipe, got "
                             f"{sorted(set(self.settings) - own)}")
        if not set(self.defaults) <= set(RECIPE) | set(self.settings):
            raise ValueError(f"arm {self.name}: defaults must set the recipe or the arm's own settings, got "
                             f"{sorted(set(self.defaults) - set(RECIPE) - set(self.settings))}")

    def takes(self) -> tuple[str, ...]:
        """Every ArmConfig field this arm takes: the shared recipe, then its own settings."""
        return (*RECIPE, *self.settings)


ARM_FIELDS = tuple(f.name for f in fields(ArmConfig) if f.name != "name")


_REGISTRY: dict[str, ArmSpec] = {}


def register_arm(spec: ArmSpec) -> ArmSpec:
    _REGISTRY[spec.name] = spec
    return spec


def unregister_arm(name: str) -> None:
    _REGISTRY.pop(name, None)


def arm_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


COPY_SEED_STRIDE = 1_000_000
"""Copy k of an arm runs seed i as seed i + (k - 1) x this: other weights and data order
than the original's for any --seeds below a million."""


def split_name(name: str) -> tuple[str, int]:
    """(registered arm, copy number) of an arm name. ``scratch-lstm#2`` is copy 2 of
    scratch-lstm: the same arm (recipe, settings, learning-rate search) under another
    name, with its own seeds (``run_seed``), for A/A checks; the plain name is copy 1."""
    base, sep, k = name.partition("#")
    if sep and not (re.fullmatch(r"[1-9][0-9]*", k) and int(k) >= 2):
        raise UserError(f"arm {name!r}: a copy of an arm is NAME#K with K a whole number from 2, "
                        f"e.g. {base or 'scratch-lstm'}#2")
    return base, int(k) if sep else 1


def run_seed(name: str, seed: int) -> int:
    """The seed a run of arm ``name`` draws its weights and data order from: ``seed``
    itself for an arm, another for each copy (two bit-identical runs would measure nothing)."""
    return seed + (split_name(name)[1] - 1) * COPY_SEED_STRIDE


def get_arm(name: str) -> ArmSpec:
    base, _ = split_name(name)
    if base not in _REGISTRY:
        raise UserError(f"unknown arm {base!r}; choose from {', '.join(_REGISTRY)}")
    return _REGISTRY[base]


def default_arms() -> tuple[str, ...]:
    return tuple(name for name, spec in _REGISTRY.items() if spec.default)


def arm_defaults(name: str, **overrides: Any) -> ArmConfig:
    """The arm's recipe from its row in the arm table, with ``overrides``; an unknown arm
    is one line naming the registered ones."""
    return ArmConfig(name=name, **{**get_arm(name).defaults, **overrides})


def parse_arms(text: str, overrides: dict | None = None) -> list[ArmConfig]:
    """ArmConfigs of comma-separated arm names, each its recipe with ``overrides`` (per
    arm name: ArmConfig fields, a config file's ``arm_settings``)."""
    return arm_configs([a.strip() for a in text.split(",") if a.strip()], overrides)


SHAPE_SETTINGS = {"n_layer", "n_embd", "n_head"}
"""Settings that give a transformer's shape by hand: they imply ``size: fixed``."""


def arm_configs(names: list[str] | None, overrides: dict | None = None) -> list[ArmConfig]:
    """ArmConfigs of ``names`` (None: the default arms), each its recipe with its
    ``overrides``; a misspelt arm or setting is one line with a "did you mean"."""
    overrides = overrides or {}
    names = list(default_arms()) if names is None else names
    if not names:
        raise UserError("--arms is empty")
    for n in [*names, *overrides]:
        try:
            get_arm(n)
        except UserError as e:  # a misspelt arm, in --arms or under arm_settings
            where, base = "" if n in names else "arm_settings: ", n.partition("#")[0]
            hint = did_you_mean([base], list(arm_names())) if base not in arm_names() else ""
            raise UserError(f"{where}{e}{hint}") from None
    arms = []
    for n in names:
        o = {**overrides.get(split_name(n)[0], {}), **overrides.get(n, {})}  # a copy: its arm's settings, then its own
        bad = set(o) - set(ARM_FIELDS)
        if bad:
            raise UserError(f"unknown setting(s) for arm {n}: {', '.join(sorted(bad))}"
                            f"{did_you_mean(sorted(bad), list(ARM_FIELDS))}")
        _check_own(n, o)
        if SHAPE_SETTINGS & set(o) and "size" not in o and "size" in get_arm(n).settings:
            o["size"] = "fixed"  # a shape given by hand is the shape wanted, not a default the rule replaces
        arms.append(arm_defaults(n, **o))
    return arms


def _check_own(name: str, settings: dict) -> None:
    """One line for a setting of another arm given to ``name`` (an LSTM's hidden size
    for the fine-tune arm): it would be recorded in its recipe and change nothing."""
    takes = get_arm(name).takes()
    for key in sorted(set(settings) - set(takes)):
        owners = [a for a, spec in _REGISTRY.items() if key in spec.settings]
        whose = f"a setting of {', '.join(owners)}" if owners else "a setting no registered arm takes"
        own = ", ".join(get_arm(name).settings) or "none"
        raise UserError(f"arm {name}: {key} is {whose}, not of {name}, whose own settings are {own} (besides the "
                        f"recipe every arm takes: {', '.join(RECIPE)})")


def own_settings(name: str) -> tuple[str, ...]:
    """The arm's own settings (``ArmSpec.settings``); none for an arm no longer registered."""
    base = str(name).partition("#")[0]
    return _REGISTRY[base].settings if base in _REGISTRY else ()


def uses_pretrained(name: str) -> bool:
    """Arms that need the pretrained model: its tokenizer, and its weights or architecture."""
    return get_arm(name).uses_pretrained


def starts_pretrained(name: str) -> bool:
    """Whether the arm starts from the pretrained weights as they are (False for arms
    no longer registered, as an old results.json may hold)."""
    base = str(name).partition("#")[0]
    return base in _REGISTRY and _REGISTRY[base].family == "pretrained"


# -- the built-in arms: their builders ------------------------------------------------
OWN_TOKENIZER = ("tokenizer", "bpe_vocab_size")
"""The settings of an arm that trains its own tokenizer (``_own_tokenizer``)."""
LORA = ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "lora_merge")
"""The adapters' settings (``ArmFactory.lora``; ``lora_merge``: the trainer saves the merged model too)."""


def _pretrained_tokenizer(factory: ArmFactory, arm: ArmConfig, texts: list[str]) -> Any:
    return factory.pretrained_tokenizer()


def _own_tokenizer(factory: ArmFactory, arm: ArmConfig, texts: list[str]) -> Any:
    """Byte-level, or BPE trained on the training split's texts."""
    from roundtable.data.tokenization import byte_tokenizer, train_bpe

    return train_bpe(texts, arm.bpe_vocab_size) if arm.tokenizer == "bpe" else byte_tokenizer()


def _lstm(factory: ArmFactory, arm: ArmConfig, tokenizer: Any, seed: int) -> Any:
    from roundtable.arms.lstm import build_lstm

    return build_lstm(len(tokenizer), arm.lstm_embed, arm.lstm_hidden, arm.lstm_layers, arm.dropout, seed)


def _transformer(factory: ArmFactory, arm: ArmConfig, tokenizer: Any, seed: int) -> Any:
    from roundtable.arms.transformer import build_transformer
    from roundtable.data.tokenization import task_token_ids

    start, end = task_token_ids(tokenizer)
    return build_transformer(len(tokenizer), arm.n_layer, arm.n_embd, arm.n_head, arm.block_size, arm.dropout,
                             seed, start, end, tokenizer.pad_token_id)


def _finetune(factory: ArmFactory, arm: ArmConfig, tokenizer: Any, seed: int) -> Any:
    return factory.pretrained_model(tokenizer, seed)


def _lora(factory: ArmFactory, arm: ArmConfig, tokenizer: Any, seed: int) -> Any:
    return factory.lora(factory.pretrained_model(tokenizer, seed), arm, tokenizer)


def _same(factory: ArmFactory, arm: ArmConfig, tokenizer: Any, seed: int) -> Any:
    return factory.pretrained_model(tokenizer, seed, random_weights=True)


for _spec in (
    ArmSpec(
        "finetune", "pretrained", "the pretrained model, every weight trained", "fine-tune the pretrained model",
        _pretrained_tokenizer, _finetune, lambda model, arm: model, uses_pretrained=True, default=True,
        # fine-tuning: short warmup, linear decay (the transformers default recipe)
        defaults=dict(learning_rate=5e-5, weight_decay=0.01, batch_size=4, schedule="linear"),
    ),
    ArmSpec(
        "finetune-lora", "pretrained", "the pretrained model with LoRA adapters",
        "fine-tune the pretrained model with LoRA", _pretrained_tokenizer, _lora,
        lambda model, arm: model + "+lora", uses_pretrained=True, settings=LORA,
        defaults=dict(learning_rate=2e-4, weight_decay=0.0, batch_size=4, schedule="linear"),
    ),
    ArmSpec(
        "scratch-lstm", "scratch", "the classic LSTM (Embedding 128, 2 x LSTM 128, Linear)",
        "train the LSTM from scratch", _own_tokenizer, _lstm,
        lambda model, arm: f"lstm-{arm.lstm_layers}x{arm.lstm_hidden}-{arm.tokenizer}", default=True,
        settings=(*OWN_TOKENIZER, "lstm_embed", "lstm_hidden", "lstm_layers", "dropout"),
        # the seed's LSTM: constant Adam 0.01, no warmup; batches of 8 blocks: 8 x 1024
        # bytes, the seed's 8,192 tokens a step (32 x 256)
        defaults=dict(learning_rate=1e-2, weight_decay=0.0, batch_size=8, schedule="constant", warmup_fraction=0.0),
    ),
    ArmSpec(
        "scratch-transformer", "scratch", "a small Llama-style transformer sized to the budget",
        "train the small transformer from scratch", _own_tokenizer, _transformer,
        lambda model, arm: f"llama-{arm.n_layer}x{arm.n_embd}-{arm.tokenizer}",
        settings=(*OWN_TOKENIZER, "n_layer", "n_embd", "n_head", "size", "dropout"),
        # pretraining from scratch: warmup then cosine decay (GPT-3, Chinchilla); its size chosen
        # for the budget (arms/sizing.py), as one would size a nanoGPT for one's compute
        defaults=dict(learning_rate=1e-3, weight_decay=0.01, batch_size=8, schedule="cosine", size="auto"),
    ),
    ArmSpec(
        "scratch-same", "scratch", "the pretrained architecture and tokenizer, random weights",
        "train the pretrained architecture from scratch", _pretrained_tokenizer, _same,
        lambda model, arm: model + " (random init)", uses_pretrained=True,
        defaults=dict(learning_rate=5e-4, weight_decay=0.01, batch_size=4, schedule="cosine"),
    ),
):
    register_arm(_spec)
