"""Summarization as decoder-only language modelling, for every arm alike.

Each example is ``document [TASK_START] summary [TASK_END]``; the loss covers only the
summary and ``[TASK_END]``. Truncation is done on the text, in UTF-8 bytes, before any
tokenizer sees it, so every arm reads and is scored on the same bytes:
``--max-document-tokens`` and ``--max-summary-tokens`` count byte-level tokens (bytes);
a cut falls on the last whitespace before the limit (or on a character boundary).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from roundtable import dist
from roundtable.data import Record
from roundtable.errors import DataError
from roundtable.evaluate import EvalSequence, EvalSet
from roundtable.rouge import ROUGE_KEYS, make_scorer
from roundtable.tasks import BlockDataset
from roundtable.tokenization import encode_texts, task_token_ids


def cut_bytes(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` UTF-8 bytes, ending at whitespace if one is near."""
    raw = text.encode()
    if len(raw) <= limit:
        return text
    head = raw[:limit].decode("utf-8", errors="ignore")
    space = head.rfind(" ")
    return head[:space] if space > limit // 2 else head


@dataclass
class SummarizeTask:
    name: str = "summarize"
    primary_metric: str = "rougeL"

    @staticmethod
    def pairs(records: list[Record], max_document_tokens: int, max_summary_tokens: int) -> list[tuple[str, str]]:
        return [(cut_bytes(r.text, max_document_tokens), cut_bytes(r.summary, max_summary_tokens)) for r in records]

    def _encode(self, tokenizer, records, max_document_tokens, max_summary_tokens):
        start, end = task_token_ids(tokenizer)
        pairs = self.pairs(records, max_document_tokens, max_summary_tokens)
        docs = encode_texts(tokenizer, [d for d, _ in pairs])
        sums = encode_texts(tokenizer, [s for _, s in pairs])
        return pairs, [(d + [start], s, end) for d, s in zip(docs, sums)]

    def train_dataset(self, tokenizer, records, block_size, arm, max_document_tokens=768, max_summary_tokens=128,
                      **_) -> BlockDataset:
        """Whole examples, each as long as it is (``block_size`` is not used): padded per batch."""
        if not records:
            raise DataError(f"no training examples for arm {arm}")
        pairs, enc = self._encode(tokenizer, records, max_document_tokens, max_summary_tokens)
        seqs = [np.asarray(prompt + summ + [end], np.int64) for prompt, summ, end in enc]
        text_bytes = sum(len(d.encode()) + len(s.encode()) for d, s in pairs)
        return BlockDataset(seqs, [len(p) for p, _, _ in enc], tokenizer.pad_token_id, text_bytes)

    def eval_set(self, tokenizer, records, max_document_tokens=768, max_summary_tokens=128, **_) -> EvalSet:
        pairs, enc = self._encode(tokenizer, records, max_document_tokens, max_summary_tokens)
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

    def rouge_evaluator(self, tokenizer, records, max_document_tokens, max_summary_tokens, max_new_tokens,
                        num_beams: int = 1, progress: bool = True) -> RougeEvaluator:
        pairs, enc = self._encode(tokenizer, records, max_document_tokens, max_summary_tokens)
        return RougeEvaluator(
            tokenizer=tokenizer,
            prompts=[p for p, _, _ in enc],
            documents=[d for d, _ in pairs],
            references=[s for _, s in pairs],
            max_new_tokens=max_new_tokens,
            num_beams=num_beams,
            progress=progress,
        )


@dataclass
class RougeEvaluator:
    """Generates a summary for each fixed validation example (greedy, or beam search),
    stopping at [TASK_END], and scores it with rouge-score against the reference."""

    tokenizer: object
    prompts: list[list[int]]
    documents: list[str]
    references: list[str]
    max_new_tokens: int
    num_beams: int = 1
    progress: bool = True
    last: list[dict] = field(default_factory=list)
    last_rougeL: np.ndarray | None = None

    def __call__(self, model, full: bool) -> dict:
        from roundtable.generate import complete_many

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
        rows, per = [], {k: [] for k in ROUGE_KEYS}
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
