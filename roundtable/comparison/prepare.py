"""Everything a comparison needs before its first run, and everything that can fail on
the user's input fails here: the data read and split, each arm's tokenizer (checked to
give the scored text back), its training examples and evaluation sets, and how much of
the validation text every arm is scored on."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from roundtable.arms import sizing
from roundtable.arms.factory import ArmFactory
from roundtable.comparison.outdir import SIZING_DIR
from roundtable.config.settings import ArmConfig, CompareConfig
from roundtable.core import dist
from roundtable.core.errors import UserError
from roundtable.core.files import write_json_once
from roundtable.data.corpus import Corpus, Record, first_by_bytes, load_corpus, nested_subset
from roundtable.data.entropy import bigram_bits_per_byte
from roundtable.data.tokenization import first_lossy
from roundtable.evaluate.precision import peak_gflops
from roundtable.evaluate.sample import arm_cost, scoring_line
from roundtable.evaluate.sample import draw as draw_sample
from roundtable.evaluate.scorer import ArmEvaluator, EvalSet
from roundtable.tasks import Task
from roundtable.train.trainer import per_device_batch

logger = logging.getLogger(__name__)


@dataclass
class Prepared:
    """One arm on one data fraction: its recipe with the block resolved, tokenizer,
    training examples and evaluation sets."""

    arm: ArmConfig
    tokenizer: object
    data: object
    evaluator: ArmEvaluator
    context_bytes: int
    """Bytes of text one block holds (block_size x the arm's bytes per token)."""
    lossless: bool = True
    sizing: dict | None = None
    """``size: auto``: the shape arms/sizing.py chose and the rule's inputs (results.json's run ``sizing``)."""


def read_corpus(cfg: CompareConfig, task: Task) -> Corpus:
    """The user's data, read, validated and split as the task needs its records."""
    return load_corpus(cfg.data, task.record_fields(cfg.data), task.name)


def train_bytes(cfg: CompareConfig, corpus: Corpus) -> dict[float, int]:
    """Training bytes of each data fraction (nested subsets of the training split)."""
    return {f: Corpus(nested_subset(corpus.train, f, cfg.data.split_seed), []).summary()["train_bytes"]
            for f in cfg.fractions}


def train_bigram(cfg: CompareConfig, corpus: Corpus) -> float | None:
    """The bigram entropy of the largest fraction's training text (data/entropy.py): the
    score a language model's run must beat to be forecast (forecast/arm.py)."""
    records = nested_subset(corpus.train, max(cfg.fractions), cfg.data.split_seed)
    return bigram_bits_per_byte(r.text for r in records)


def prepare_arms(cfg: CompareConfig, task: Task, factory: ArmFactory, corpus: Corpus,
                 progress: bool, device: str = "cpu", precision: str = "fp32") -> dict[tuple[str, float], Prepared]:
    """Every arm on every data fraction, keyed by (arm name, fraction); ``device`` and
    ``precision``: where a wall-clock budget is turned into FLOPs for ``size: auto``."""
    prepared: dict[tuple[str, float], Prepared] = {}
    lossless: dict[int, bool] = {}  # by tokenizer: one check of the validation text each
    for fraction in cfg.fractions:
        train = nested_subset(corpus.train, fraction, cfg.data.split_seed)
        for arm in cfg.arms:
            per_device_batch(arm)  # an indivisible batch is refused before any model loads
            tok = factory.tokenizer(arm, task.tokenizer_texts(train))
            if id(tok) not in lossless:
                lossless[id(tok)] = check_lossless(task, corpus.valid, arm, tok, cfg.allow_lossy_tokenizer)
            prepared[(arm.name, fraction)] = prepare_arm(cfg, task, corpus.valid, arm, tok, train,
                                                         lossless[id(tok)], progress, device, precision)
    return prepared


def prepare_arm(cfg: CompareConfig, task: Task, valid: list[Record], arm: ArmConfig, tok: object,
                train: list[Record], lossless: bool, progress: bool, device: str = "cpu",
                precision: str = "fp32") -> Prepared:
    """One arm on one fraction's training records: its blocks, its window, its evaluator,
    and with ``size: auto`` its shape (``size_arm``)."""
    data = task.train_data(tok, train, arm, cfg.context_bytes)
    arm = replace(arm, block_size=data.block_size)
    sizing = None
    if arm.size == "auto":
        arm, sizing = size_arm(cfg, arm, data.dataset, len(tok), device, precision)
    full, sub = eval_sets(task, tok, valid, cfg.budget.curve_eval_bytes)
    window, stride = task.eval_window(arm, full)
    evaluator = ArmEvaluator(
        full=full, subset=sub, window=window, stride=stride, progress=progress,
        extra=task.extra_evaluator(tok, train, valid, progress),
        batch_tokens=max(window, cfg.eval_batch_size * window),
    )
    return Prepared(arm, tok, data.dataset, evaluator, int(data.context_bytes), lossless, sizing)


def size_arm(cfg: CompareConfig, arm: ArmConfig, dataset: object, vocab_size: int, device: str,
             precision: str) -> tuple[ArmConfig, dict]:
    """``size: auto``: the shape arms/sizing.py chooses for one run's training budget (the
    budget less the most the learning-rate search may take; the search's slices train the
    same shape) and the arm's unique training tokens on this fraction, logged and recorded."""
    kind, value = cfg.budget.kind
    block = arm.block_size or 1
    bpt = float(getattr(dataset, "bytes_per_token", 1.0))
    rate = flops_per_second(device, precision) * sizing.MFU_ESTIMATE if kind == "seconds" else None
    flops, how = sizing.budget_flops(kind, value * (1.0 - cfg.lr_search.reserve), bpt, arm.batch_size * block, rate)
    choice = sizing.shape_for(flops, max(int(getattr(dataset, "n_tokens", 0)), 1), vocab_size, block)
    s = choice.shape
    logger.info(f"  {arm.name}: size auto, {s} (n_head {s.n_head}, {choice.params:,} parameters) for "
                f"{flops:.3g} FLOPs ({how}) on {choice.unique_tokens:,} unique tokens: {choice.epochs:.2g} epochs, "
                f"{choice.tokens_per_param:.0f} tokens per parameter")
    record = {**choice.to_dict(), "budget_from": how, "search_reserve": cfg.lr_search.reserve}
    return replace(arm, n_layer=s.n_layer, n_embd=s.n_embd, n_head=s.n_head), record


def agree_sizes(out: Path, cfg: CompareConfig, prepared: dict[tuple[str, float], Prepared]) -> None:
    """Every ``size: auto`` arm trains the first shape chosen for it in ``out``
    (``SIZING_DIR``). A wall-clock budget's FLOPs depend on the peak each process
    measures, so a shard on a slower or busier host, or a resumed session, could choose
    another shape for the same arm, and reuse a learning rate searched for that one.
    Called once ``out`` is checked (and, with --overwrite, emptied)."""
    kind, value = cfg.budget.kind
    for (name, _), prep in prepared.items():
        if prep.sizing is None:
            continue
        key = (f"{name}-{kind}-{value:g}-{cfg.lr_search.reserve:g}-{prep.arm.batch_size}x{prep.arm.block_size}-"
               f"{prep.sizing['unique_tokens']}-{prep.sizing['vocab_size']}")
        stored = write_json_once(out / SIZING_DIR / f"{key}.json", prep.sizing)
        if stored["shape"] != prep.sizing["shape"]:
            logger.info(f"  {name}: size auto keeps {stored['shape']}, chosen first in {out} (this process's "
                        f"measured speed chose {prep.sizing['shape']})")
            prep.arm = replace(prep.arm, n_layer=stored["n_layer"], n_embd=stored["n_embd"],
                               n_head=stored["n_head"])
            prep.sizing = stored


def flops_per_second(device: str, precision: str) -> float:
    """The matmul peak measured on ``device`` in ``precision``, all processes together at
    the slowest one's speed: a collective, so that every process builds the same shape."""
    if torch.device(device).type == "cpu":
        rate = peak_gflops(precision) * 1e9
    else:
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        a = torch.randn(4096, 4096, device=device, dtype=dtype)
        best = float("inf")
        for _ in range(4):
            t0 = time.perf_counter()
            (a @ a).sum().item()  # .item() waits for the device
            best = min(best, time.perf_counter() - t0)
        rate = 2 * 4096**3 / best
    (slowest,) = dist.all_max([-rate])
    return -slowest * dist.world()


def eval_sets(task: Task, tok: object, records: list[Record], curve_eval_bytes: int) -> tuple[EvalSet, EvalSet | None]:
    """The scored text and its curve subset (its leading documents; None when it is all of it)."""
    subset = first_by_bytes(records, curve_eval_bytes)
    full = task.eval_set(tok, records)
    return full, task.eval_set(tok, subset) if len(subset) < len(records) else None


def check_lossless(task: Task, valid: list[Record], arm: ArmConfig, tok: object, allow_lossy: bool) -> bool:
    """decode(encode(doc)) == doc on every validation text the arm is scored on or
    conditioned on; otherwise refuse (one line) unless --allow-lossy-tokenizer."""
    texts, sources = task.scored_texts(valid)
    bad = first_lossy(tok, texts)
    if bad is not None and not allow_lossy:
        raise UserError(
            f"arm {arm.name}: its tokenizer does not give the validation text back exactly "
            f"(first at {sources[bad] or f'document {bad + 1}'}), so bits per byte would score other "
            "text; pass --allow-lossy-tokenizer to accept it"
        )
    return bad is None


def size_sample(cfg: CompareConfig, task: Task, factory: ArmFactory, valid: list[Record],
                prepared: dict[tuple[str, float], Prepared], device: str, precision: str) -> dict:
    """How much of the validation text every arm is scored on (evaluate/sample.py), from
    each arm's measured scoring speed on the largest data fraction."""
    cost = {}
    if cfg.budget.eval_share and cfg.budget.seconds:
        for arm in cfg.arms:
            prep = prepared[(arm.name, max(cfg.fractions))]
            model = factory.model(prep.arm, prep.tokenizer, seed=0).to(device)
            cost[arm.name] = arm_cost(model, prep.evaluator, precision, device)
            del model
    return draw_sample(task, valid, cfg.budget.eval_share, cfg.budget.seconds, cost, cfg.data.split_seed).to_dict()


def apply_sample(task: Task, valid: list[Record], prepared: dict[tuple[str, float], Prepared], sample: dict,
                 curve_eval_bytes: int) -> None:
    """Score every arm on the sample's text from here on (the same for all)."""
    if sample.get("max_bytes") is None:
        return
    records = task.eval_sample(valid, int(sample["max_bytes"]), int(sample.get("seed") or 0))
    sets: dict[int, tuple[EvalSet, EvalSet | None]] = {}
    for prep in prepared.values():
        if id(prep.tokenizer) not in sets:
            sets[id(prep.tokenizer)] = eval_sets(task, prep.tokenizer, records, curve_eval_bytes)
        prep.evaluator.full, prep.evaluator.subset = sets[id(prep.tokenizer)]
    logger.info(scoring_line(sample))
