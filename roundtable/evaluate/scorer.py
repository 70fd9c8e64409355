"""The one evaluator: bits per byte on the same validation bytes for every arm.

``valid_bits_per_byte`` = total negative log-likelihood of the scored text under the
arm's model, in bits, divided by the UTF-8 byte count of that same text. The
denominator is fixed by the data, not by the tokenizer, which is what makes arms
with different tokenizers comparable. Long text is scored with a sliding window, so
every token after the first window is predicted with at least
``window - stride`` tokens of context. Perplexity and next-token accuracy are in the
arm's own tokens and are not comparable across tokenizers.
"""

from __future__ import annotations

import math
import time
import weakref
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from roundtable.core import dist
from roundtable.evaluate.precision import autocast

LN2 = math.log(2.0)


@dataclass
class EvalSequence:
    """One token sequence to score; only tokens with ``scored`` count."""

    ids: np.ndarray  # (L,) int64
    scored: np.ndarray  # (L,) bool
    doc: np.ndarray  # (L,) int32 document index of each token, -1 if unscored


@dataclass
class EvalSet:
    """Tokenized validation text for one arm. ``doc_bytes`` is shared by all arms."""

    sequences: list[EvalSequence]
    doc_bytes: np.ndarray  # (n_docs,) UTF-8 bytes scored per document
    pad_id: int = 0
    doc_group: np.ndarray | None = None
    """(n_docs,) the validation document each scored unit belongs to, where units are
    pieces of documents (the LM sample); None: each unit is a document of its own."""

    @property
    def groups(self) -> np.ndarray:
        """The document of each unit: the bootstrap resamples documents, not their pieces."""
        return np.arange(len(self.doc_bytes)) if self.doc_group is None else np.asarray(self.doc_group, np.int64)

    @property
    def n_bytes(self) -> int:
        return int(self.doc_bytes.sum())

    def __len__(self) -> int:  # lets the Trainer accept it as its eval_dataset
        return len(self.doc_bytes)


@dataclass
class TextScores:
    nll_nats: float
    n_tokens: int
    n_correct: int
    n_bytes: int
    seconds: float
    doc_nll_nats: np.ndarray = field(repr=False)
    n_positions: int = 0
    """Token positions run through the model (window overlaps and all): what scoring costs."""

    @property
    def bits_per_byte(self) -> float:
        return self.nll_nats / LN2 / self.n_bytes

    @property
    def perplexity(self) -> float:
        return math.exp(min(self.nll_nats / max(self.n_tokens, 1), 700.0))

    @property
    def token_accuracy(self) -> float:
        return self.n_correct / max(self.n_tokens, 1)

    def metrics(self) -> dict:
        return {
            "valid_bits_per_byte": self.bits_per_byte,
            "valid_perplexity": self.perplexity,
            "valid_token_accuracy": self.token_accuracy,
            "eval_bytes": self.n_bytes,
            "eval_tokens": self.n_tokens,
            "eval_seconds": self.seconds,
        }


_CHECKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Models whose shortcut was checked, and whether it matched: once per model, not per
score (whether a model changes logits after its output layer is its architecture's
doing, not its weights')."""


class _ScoredLogits:
    """Logits at the scored positions only. With a large vocabulary the output layer
    and softmax dominate evaluation (a summary is a small part of its example), so the
    decoder runs once and the output layer only where a token is scored. The shortcut
    is checked once per model against the model's own full logits, on the first window
    of its first batch, and dropped if they differ (models that scale or cap logits after
    the output layer)."""

    def __init__(self, model):
        self.model = model
        self.checked = False
        self.parts = None
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        try:
            decoder, head = base.get_decoder(), base.get_output_embeddings()
        except Exception:  # noqa: BLE001 - no decoder/head split: use the full logits
            decoder = head = None
        if decoder is not None and head is not None and decoder is not base and head.weight.shape[0] >= 4096:
            self.parts = (decoder, head)
            if model in _CHECKED:
                self.checked = True
                self.parts = self.parts if _CHECKED[model] else None

    def full(self, x, mask, rows, cols):
        return self.model(input_ids=x, attention_mask=mask).logits[rows, cols]

    def __call__(self, x, mask, rows, cols):
        if self.parts is None:
            return self.full(x, mask, rows, cols)
        decoder, head = self.parts
        fast = head(decoder(input_ids=x, attention_mask=mask).last_hidden_state[rows, cols])
        if not self.checked:
            self.checked = True
            first = rows == 0  # one window tells: an eighth of a batch's cost, not all of it again
            ref = self.full(x[:1], mask[:1], rows[first], cols[first])
            # the same products in another blocking may round differently: by up to one
            # unit in the last place of the logits' format (2^-7 relative in bf16)
            tol = 1e-3 if fast.dtype == torch.float32 else 2**-6
            _CHECKED[self.model] = torch.allclose(fast[first].float(), ref.float(), atol=tol, rtol=tol)
            if not _CHECKED[self.model]:
                self.parts = None
                return self.full(x, mask, rows, cols)
        return fast


def windows(length: int, window: int, stride: int) -> list[tuple[int, int, int]]:
    """(begin, end, score_from) windows covering positions 1..length-1 exactly once.

    Position p is the token predicted from positions < p; the first token of a
    sequence has no context and is never scored.
    """
    if window < 2 or stride < 1:
        raise ValueError(f"window must be >= 2 and stride >= 1, got {window}, {stride}")
    out, prev_end, begin = [], 1, 0
    while prev_end < length:
        end = min(begin + window, length)
        out.append((begin, end, prev_end))
        prev_end = end
        begin = min(begin + stride, end - 1)  # keep >= 1 token of context
    return out


def score_jobs(eval_set: EvalSet, window: int, stride: int) -> list[tuple[int, int, int, int]]:
    """(sequence, begin, end, score_from) of every window that scores a token, shortest
    first (similar lengths batch together: less padding)."""
    jobs = [(s, b, e, f) for s, seq in enumerate(eval_set.sequences) for (b, e, f) in windows(len(seq.ids), window, stride)]
    jobs = [j for j in jobs if eval_set.sequences[j[0]].scored[j[3] : j[2]].any()]
    jobs.sort(key=lambda j: j[2] - j[1])
    return jobs


def positions(eval_set: EvalSet, window: int, stride: int) -> int:
    """Token positions a whole score of ``eval_set`` runs through the model: its cost."""
    return sum(e - b for _, b, e, _ in score_jobs(eval_set, window, stride))


@torch.inference_mode()
def score(
    model,
    eval_set: EvalSet,
    window: int,
    stride: int,
    batch_tokens: int = 2048,
    device: torch.device | str = "cpu",
    desc: str = "eval",
    progress: bool = True,
    precision: str = "fp32",
    max_windows: int | None = None,
) -> TextScores:
    """Score every scored token of ``eval_set`` once; returns totals and per-document NLL.

    ``precision`` bf16 runs the model under bf16 autocast, as in training; the
    log-softmax is taken in fp32 either way. ``max_windows``: only that many of the
    longest windows (a speed probe: its totals are partial)."""
    t0 = time.perf_counter()
    was_training = model.training
    model.eval()
    jobs = score_jobs(eval_set, window, stride)
    if max_windows is not None:
        jobs = jobs[-max_windows:]  # the longest: full windows, as most of the work is
    jobs = jobs[dist.rank() :: dist.world()]  # under torchrun each process scores its share
    n_pos = sum(e - b for _, b, e, _ in jobs)
    per_batch = max(1, batch_tokens // window)
    fast = _ScoredLogits(model)
    doc_nll = np.zeros(len(eval_set.doc_bytes), dtype=np.float64)
    nll = 0.0
    n_tok = n_ok = 0
    bar = tqdm(total=len(jobs), desc=desc, unit="win", leave=False, disable=not progress or not dist.is_main())
    for i in range(0, len(jobs), per_batch):
        batch = jobs[i : i + per_batch]
        width = max(e - b for _, b, e, _ in batch)
        x = torch.full((len(batch), width), eval_set.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, (s, b, e, _) in enumerate(batch):
            x[r, : e - b] = torch.from_numpy(eval_set.sequences[s].ids[b:e])
            mask[r, : e - b] = 1
        # positions whose next token is scored: (row, position) pairs, position t predicts t+1
        sel = [(r, np.nonzero(eval_set.sequences[s].scored[f:e])[0] + f - b - 1) for r, (s, b, e, f) in enumerate(batch)]
        rows = torch.from_numpy(np.concatenate([np.full(len(c), r) for r, c in sel]))
        cols = torch.from_numpy(np.concatenate([c for _, c in sel]))
        with autocast(device, precision):
            logits = fast(x.to(device), mask.to(device), rows.to(device), cols.to(device)).float()  # (N, V)
        logp = torch.log_softmax(logits, dim=-1)
        target = x[rows, cols + 1].to(device)
        tok_lp_all = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1).cpu().double().numpy()
        hit_all = (logp.argmax(-1) == target).cpu().numpy()
        offsets = np.cumsum([0] + [len(c) for _, c in sel])
        for r, (s, b, _, _) in enumerate(batch):
            lp = tok_lp_all[offsets[r] : offsets[r + 1]]
            nll -= lp.sum()
            np.subtract.at(doc_nll, eval_set.sequences[s].doc[sel[r][1] + b + 1], lp)
            n_tok += len(lp)
            n_ok += int(hit_all[offsets[r] : offsets[r + 1]].sum())
        bar.update(len(batch))
    bar.close()
    if was_training:
        model.train()
    totals = dist.all_sum(np.concatenate([[nll, n_tok, n_ok, n_pos], doc_nll]))
    nll, n_tok, n_ok, n_pos, doc_nll = totals[0], int(totals[1]), int(totals[2]), int(totals[3]), totals[4:]
    return TextScores(
        nll_nats=float(nll),
        n_tokens=n_tok,
        n_correct=n_ok,
        n_bytes=eval_set.n_bytes,
        seconds=time.perf_counter() - t0,
        doc_nll_nats=doc_nll,
        n_positions=n_pos,
    )


@dataclass
class ArmEvaluator:
    """Scores one arm's model at curve points: the whole validation text (step 0 and
    final) or the fixed curve subset (the same bytes for every arm). ``extra`` adds
    task metrics computed on the model (ROUGE from generated summaries). ``precision``
    is the comparison's: train_run sets it, so an arm is scored as it was trained."""

    full: EvalSet
    subset: EvalSet | None
    window: int
    stride: int
    batch_tokens: int = 2048
    device: torch.device | str = "cpu"
    extra: object | None = None
    progress: bool = True
    last_full: TextScores | None = None
    first_full: TextScores | None = None
    """The first whole-text scores since it was last cleared: a run's step 0 where it scored it."""
    precision: str = "fp32"

    def evaluate(self, model, full: bool) -> dict:
        def run(es: EvalSet, desc: str) -> TextScores:
            return score(model, es, self.window, self.stride, self.batch_tokens, self.device, desc, self.progress,
                         self.precision)

        t0 = time.perf_counter()
        out: dict = {}
        if full or self.subset is None:
            s = run(self.full, "eval (all)")
            self.last_full = s
            if self.first_full is None:
                self.first_full = s
            out.update(s.metrics())
            out["scope"] = "full"
            # the subset is the leading documents, scored in the same windows within the
            # whole text: its score is read off the per-document totals, not recomputed
            k = len(self.subset.doc_bytes) if self.subset is not None else len(self.full.doc_bytes)
            out["subset_bits_per_byte"] = float(s.doc_nll_nats[:k].sum() / LN2 / self.full.doc_bytes[:k].sum())
        else:
            s = run(self.subset, "eval (subset)")
            # one scope per field: valid_* always means the whole text, so a curve never jumps between scopes
            out.update({k.replace("valid_", "subset_"): v for k, v in s.metrics().items()})
            out.update(valid_bits_per_byte=None, valid_perplexity=None, valid_token_accuracy=None, scope="subset")
        out["score_seconds"] = s.seconds  # the part that grows with the bytes scored (not ROUGE)
        if self.extra is not None:
            with autocast(self.device, self.precision):  # generation too, as the arm was trained
                out.update(self.extra(model, full))
        out["eval_seconds"] = time.perf_counter() - t0
        return out
