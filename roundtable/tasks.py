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
    """Variable-length training examples, padded per batch by ``collate``.

    Padding every example to the longest one in the data would let one outlier document
    make a subword arm spend most of each step on padding; ``group_by_length`` asks the
    Trainer to batch examples of similar length, so each batch pads little."""

    group_by_length = True

    def __init__(self, sequences: list[np.ndarray], prompt_lengths: list[int], pad_id: int, text_bytes: int):
        self.sequences = [torch.from_numpy(np.asarray(x, np.int64)) for x in sequences]
        self.prompt_lengths = list(prompt_lengths)
        self.pad_id = pad_id
        self.text_bytes = text_bytes
        """UTF-8 bytes of text these examples hold, for train_bytes accounting."""

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int) -> dict:
        ids = self.sequences[i]
        labels = ids.clone()
        labels[: self.prompt_lengths[i]] = -100  # loss on what follows the prompt only
        return {"input_ids": ids, "labels": labels}

    def collate(self, batch: list[dict]) -> dict:
        """Pad to the longest example of this batch (right padding, labels -100)."""
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[r, :n], labels[r, :n], mask[r, :n] = b["input_ids"], b["labels"], 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    @property
    def max_length(self) -> int:
        return max((len(x) for x in self.sequences), default=0)

    @property
    def n_tokens(self) -> int:
        return sum(len(x) for x in self.sequences)

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
