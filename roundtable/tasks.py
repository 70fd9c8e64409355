"""Tasks turn documents into training blocks and evaluation sets for one tokenizer.

Every arm sees the same format: ``[TASK_START] text [TASK_END]`` for language
modelling. Scored text is exactly the document bytes, so the evaluator divides by the
same number for every arm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from roundtable.data import Record
from roundtable.errors import DataError
from roundtable.evaluate import EvalSequence, EvalSet
from roundtable.tokencache import TokenBlocks, lm_blocks
from roundtable.tokenization import encode_texts, task_token_ids


class BlockDataset(Dataset):
    """Fixed-length training examples for the Trainer."""

    def __init__(self, input_ids: np.ndarray, labels: np.ndarray, attention_mask: np.ndarray, text_bytes: int):
        self.input_ids = torch.from_numpy(input_ids.astype(np.int64))
        self.labels = torch.from_numpy(labels.astype(np.int64))
        self.attention_mask = torch.from_numpy(attention_mask.astype(np.int64))
        self.text_bytes = text_bytes
        """UTF-8 bytes of text these examples hold, for train_bytes accounting."""

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.input_ids[i], "labels": self.labels[i], "attention_mask": self.attention_mask[i]}

    @property
    def n_tokens(self) -> int:
        return int(self.attention_mask.sum())

    @property
    def bytes_per_token(self) -> float:
        return self.text_bytes / max(self.n_tokens, 1)


@dataclass
class LMTask:
    """Language modelling: predict every byte of every document."""

    name: str = "lm"
    primary_metric: str = "valid_bits_per_byte"

    def _stream(self, tokenizer, records: list[Record]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        start, end = task_token_ids(tokenizer)
        ids, scored, doc = [], [], []
        for i, toks in enumerate(encode_texts(tokenizer, [r.text for r in records])):
            ids += [start, *toks, end]
            scored += [False] + [True] * len(toks) + [False]
            doc += [-1] + [i] * len(toks) + [-1]
        return np.asarray(ids, np.int64), np.asarray(scored, bool), np.asarray(doc, np.int32)

    def train_dataset(self, tokenizer, records: list[Record], block_size: int, arm: str, **_) -> TokenBlocks:
        blocks = lm_blocks(tokenizer, [r.text for r in records], block_size)
        if len(blocks) == 0:
            raise DataError(
                f"training data too small for one training block of arm {arm}: "
                f"{blocks.stream_tokens} tokens < block size {block_size}"
            )
        return blocks

    def eval_set(self, tokenizer, records: list[Record], **_) -> EvalSet:
        ids, scored, doc = self._stream(tokenizer, records)
        return EvalSet(
            sequences=[EvalSequence(ids=ids, scored=scored, doc=doc)],
            doc_bytes=np.asarray([len(r.text.encode()) for r in records], np.int64),
            pad_id=tokenizer.pad_token_id,
        )


def first_by_bytes(records: list[Record], max_bytes: int) -> list[Record]:
    """The leading documents holding at least ``max_bytes`` bytes of text (all if 0)."""
    if max_bytes <= 0:
        return records
    out, total = [], 0
    for r in records:
        out.append(r)
        total += len(r.text.encode()) + len((r.summary or "").encode())
        if total >= max_bytes:
            break
    return out


def get_task(name: str):
    if name == "lm":
        return LMTask()
    from roundtable.summarize import SummarizeTask

    return SummarizeTask()
