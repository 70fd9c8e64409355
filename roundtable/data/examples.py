"""Variable-length training examples, padded per batch (summarization, and any task
whose examples are whole documents rather than blocks of one stream)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


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
