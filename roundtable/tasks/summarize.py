"""Summarization as decoder-only language modelling, for every arm alike.

Each example is ``document [TASK_START] summary [TASK_END]``; the loss covers only the
summary and ``[TASK_END]``. Truncation is done on the text, in UTF-8 bytes, before any
tokenizer sees it, so every arm reads and is scored on the same bytes:
``--max-document-tokens`` and ``--max-summary-tokens`` count byte-level tokens (bytes);
a cut falls on the last whitespace before the limit (or on a character boundary).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from roundtable.core.errors import DataError
from roundtable.data.corpus import Record, cut_bytes
from roundtable.tasks.base import Task, TrainingData
from roundtable.tasks.rouge import ROUGE_KEYS, make_scorer

if TYPE_CHECKING:
    from roundtable.config.settings import ArmConfig, CompareConfig, DataConfig
    from roundtable.evaluate.scorer import EvalSet


@dataclass
class SummarizeTask(Task):
    """``document [TASK_START] summary [TASK_END]``, loss and score on the summary."""

    max_document_tokens: int
    max_summary_tokens: int
    rouge_examples: int
    num_beams: int

    name = "summarize"
    primary_metric = "rougeL"
    lower_is_better = False
    curve_key = "rougeL"
    doc_key = "doc_rougeL"
    unit = "ROUGE-L"
    extra_metrics = ROUGE_KEYS

    @classmethod
    def from_config(cls, cfg: CompareConfig) -> SummarizeTask:
        return cls(cfg.max_document_tokens, cfg.max_summary_tokens, cfg.rouge_examples, cfg.num_beams)

    @classmethod
    def record_fields(cls, data: DataConfig) -> tuple[tuple[str, str], ...]:
        return (data.document_field, "--document-field"), (data.summary_field, "--summary-field")

    def pairs(self, records: list[Record]) -> list[tuple[str, str]]:
        """(document, summary) of each record, cut to the same bytes for every arm."""
        return [(cut_bytes(r.text, self.max_document_tokens), cut_bytes(r.summary or "", self.max_summary_tokens))
                for r in records]

    def scored_texts(self, records: list[Record]) -> tuple[list[str], list[str]]:
        return [t for pair in self.pairs(records) for t in pair], [r.source for r in records for _ in (0, 1)]

    def scored_bytes(self, records: list[Record]) -> list[int]:
        """The summaries' bytes, as cut for training and scoring."""
        return [len(s.encode()) for _, s in self.pairs(records)]

    def _encode(self, tokenizer: Any, records: list[Record]) -> Any:
        from roundtable.data.tokenization import encode_texts, task_token_ids

        start, end = task_token_ids(tokenizer)
        pairs = self.pairs(records)
        docs = encode_texts(tokenizer, [d for d, _ in pairs])
        sums = encode_texts(tokenizer, [s for _, s in pairs])
        return pairs, [(d + [start], s, end) for d, s in zip(docs, sums)]

    def train_data(self, tokenizer: Any, records: list[Record], arm: ArmConfig, context_bytes: int) -> TrainingData:
        """Whole examples, each as long as it is, padded per batch: the document is the
        summary's context, cut to the same bytes for every arm (``context_bytes`` is not used)."""
        data = self.train_dataset(tokenizer, records, arm.name)
        return TrainingData(data, data.max_length, self.max_document_tokens + self.max_summary_tokens)

    def train_dataset(self, tokenizer: Any, records: list[Record], arm: str) -> Any:
        from roundtable.data.examples import BlockDataset

        if not records:
            raise DataError(f"no training examples for arm {arm}")
        pairs, enc = self._encode(tokenizer, records)
        seqs = [np.asarray(prompt + summ + [end], np.int64) for prompt, summ, end in enc]
        text_bytes = sum(len(d.encode()) + len(s.encode()) for d, s in pairs)
        return BlockDataset(seqs, [len(p) for p, _, _ in enc], tokenizer.pad_token_id, text_bytes)

    def eval_set(self, tokenizer: Any, records: list[Record]) -> EvalSet:
        from roundtable.evaluate.scorer import EvalSequence, EvalSet

        pairs, enc = self._encode(tokenizer, records)
        seqs = []
        for i, (prompt, summ, end) in enumerate(enc):
            n = len(prompt) + len(summ) + 1
            scored = np.zeros(n, bool)
            scored[len(prompt) : len(prompt) + len(summ)] = True  # the summary's bytes, not [TASK_END]
            doc = np.where(scored, i, -1).astype(np.int32)
            seqs.append(EvalSequence(ids=np.asarray(prompt + summ + [end], np.int64), scored=scored, doc=doc))
        return EvalSet(
            sequences=seqs,
            doc_bytes=np.asarray([len(s.encode()) for _, s in pairs], np.int64),
            pad_id=tokenizer.pad_token_id,
        )

    def eval_window(self, arm: ArmConfig, full: EvalSet) -> tuple[int, int]:
        """Each example whole in one window: the longest validation example."""
        longest = max(len(s.ids) for s in full.sequences)
        return longest, longest

    def extra_evaluator(self, tokenizer: Any, train: list[Record], valid: list[Record], progress: bool) -> RougeEvaluator:
        """ROUGE of generated summaries of the first ``rouge_examples`` validation
        documents; a summary may run a little past the longest training summary."""
        from roundtable.data.tokenization import encode_texts

        longest = max(len(x) for x in encode_texts(tokenizer, [s for _, s in self.pairs(train)]))
        return self.rouge_evaluator(tokenizer, valid[: self.rouge_examples], longest + 8, progress)

    def rouge_evaluator(self, tokenizer: Any, records: list[Record], max_new_tokens: int,
                        progress: bool = True) -> RougeEvaluator:
        pairs, enc = self._encode(tokenizer, records)
        return RougeEvaluator(
            tokenizer=tokenizer,
            prompts=[p for p, _, _ in enc],
            documents=[d for d, _ in pairs],
            references=[s for _, s in pairs],
            max_new_tokens=max_new_tokens,
            num_beams=self.num_beams,
            progress=progress,
        )

    def save_extra(self, evaluator: Any, run_dir: Path, scores: dict) -> None:
        scores["doc_rougeL"] = evaluator.last_rougeL
        from roundtable.results import GENERATIONS

        with open(run_dir / GENERATIONS, "w", encoding="utf-8") as f:
            for row in evaluator.last:
                f.write(json.dumps(row) + "\n")

    def baselines(self, valid: list[Record]) -> dict:
        """The lead sentence, scored on the examples the arms' ROUGE is."""
        return {"lead": lead_scores(self.pairs(valid[: self.rouge_examples]), self.max_summary_tokens)}

    def baseline_warnings(self, means: dict[str, float | None], baselines: dict) -> list[str]:
        lead_rouge = (baselines.get("lead") or {}).get("rougeL")
        if lead_rouge is None:
            return []
        below = [a for a, v in means.items() if v is not None and v <= lead_rouge]
        if below and len(below) == len(means):
            return [f"No arm beats the lead baseline (the document's first sentence, ROUGE-L {lead_rouge:.3f}): "
                    "neither produces usable summaries yet."]
        if below:
            return [f"{', '.join(below)} does not beat the lead baseline (ROUGE-L {lead_rouge:.3f})."]
        return []

    @staticmethod
    def demo_data(folder: Path) -> Path:
        from roundtable.data.demo import write_summarize_data

        return write_summarize_data(folder)


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


def lead(document: str, limit: int) -> str:
    """The classic lead baseline: the document's first sentence, cut to ``limit`` bytes."""
    first = _SENTENCE_END.split(document.strip(), maxsplit=1)[0]
    raw = first.encode()[:limit]
    return raw.decode("utf-8", errors="ignore")


def lead_scores(pairs: list[tuple[str, str]], limit: int) -> dict:
    """ROUGE of the lead baseline on (document, reference) pairs, with the arms' scorer."""
    scorer = make_scorer()
    per: dict[str, list[float]] = {k: [] for k in ROUGE_KEYS}
    for document, reference in pairs:
        s = scorer.score(reference, lead(document, limit))
        for k in ROUGE_KEYS:
            per[k].append(s[k].fmeasure)
    return {k: float(np.mean(v)) if v else 0.0 for k, v in per.items()}


@dataclass
class RougeEvaluator:
    """Generates a summary for each fixed validation example (greedy, or beam search),
    stopping at [TASK_END], and scores it with rouge-score against the reference."""

    tokenizer: Any
    prompts: list[list[int]]
    documents: list[str]
    references: list[str]
    max_new_tokens: int
    num_beams: int = 1
    progress: bool = True
    last: list[dict] = field(default_factory=list)
    last_rougeL: np.ndarray | None = None

    def fingerprint(self) -> str:
        """What this evaluator scores, for the step-0 cache (startcache.py)."""
        import hashlib
        import json

        return hashlib.sha256(json.dumps([self.prompts, self.references, self.max_new_tokens, self.num_beams])
                              .encode()).hexdigest()

    def __call__(self, model: Any, full: bool) -> dict:
        from roundtable.core import dist
        from roundtable.evaluate.generate import complete_many

        t0 = time.perf_counter()
        was_training = model.training
        model.eval()
        scorer = make_scorer()  # Unicode-aware; rouge-score's own on English
        mine = list(range(len(self.prompts)))[dist.rank() :: dist.world()]  # each process its share
        new = complete_many(model, self.tokenizer, [self.prompts[i] for i in mine], self.max_new_tokens,
                            num_beams=self.num_beams)
        preds = {i: self.tokenizer.decode(ids, skip_special_tokens=True).strip() for i, ids in zip(mine, new)}
        for part in dist.all_gather_objects(preds):
            preds.update(part)
        if was_training:
            model.train()
        rows: list[dict] = []
        per: dict[str, list[float]] = {k: [] for k in ROUGE_KEYS}
        for i in range(len(self.prompts)):
            s = scorer.score(self.references[i], preds[i])
            for k in ROUGE_KEYS:
                per[k].append(s[k].fmeasure)
            rows.append({"id": i, "document": self.documents[i], "reference": self.references[i], "prediction": preds[i]})
        self.last = rows
        self.last_rougeL = np.asarray(per["rougeL"])
        out = {k: float(np.mean(v)) if v else 0.0 for k, v in per.items()}
        out["rouge_examples"] = len(rows)
        out["rouge_seconds"] = time.perf_counter() - t0
        return out
