"""Tokenized training blocks, cached as memory-mapped Arrow (``datasets``).

Tokenization is batched through the fast tokenizer and written to disk batch by
batch, so the token ids of a large corpus never sit in memory; a second run on the
same text with the same tokenizer and block size loads the cache instead of
tokenizing again. The cache lives in ``$ROUNDTABLE_CACHE`` (default
``~/.cache/roundtable``); a cache entry is complete only once renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import datasets
import torch
from torch.utils.data import Dataset

from roundtable.core.paths import cache_root
from roundtable.data.tokenization import task_token_ids
from roundtable.results import publish_dir

BATCH = 1000  # documents per tokenizer call and per Arrow write
FEATURES = datasets.Features({"input_ids": datasets.Sequence(datasets.Value("int32"))})


def _key(tokenizer, texts: list[str], block_size: int) -> str:
    h = hashlib.sha256()
    h.update(tokenizer.backend_tokenizer.to_str().encode())
    h.update(f"|{block_size}|{len(texts)}|".encode())
    for t in texts:
        h.update(t.encode())
        h.update(b"\x00")
    return h.hexdigest()[:24]


class TokenBlocks(Dataset):
    """Fixed-length language-modelling blocks read from the Arrow cache.

    The DataLoader asks ``__getitems__`` for a whole batch: one read of the memory-mapped
    table returns the (batch, block) tensor, and ``collate`` passes it on as it is, so
    no step pays for rows fetched, converted and stacked one by one."""

    def __init__(self, ds: datasets.Dataset, text_bytes: int, stream_tokens: int):
        self.ds = ds.with_format("torch")
        self.block_size = len(ds[0]["input_ids"]) if len(ds) else 0
        self.text_bytes = text_bytes
        self.stream_tokens = stream_tokens

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> dict:
        return self._inputs(self.ds[i]["input_ids"].long())

    def __getitems__(self, indices: list[int]) -> dict:
        return self._inputs(self.ds[list(indices)]["input_ids"].long())  # (B, T) in one read

    @staticmethod
    def _inputs(ids: torch.Tensor) -> dict:
        return {"input_ids": ids, "labels": ids.clone(), "attention_mask": torch.ones_like(ids)}

    @staticmethod
    def collate(batch: dict | list[dict]) -> dict:
        """The batch ``__getitems__`` built, as it is; rows fetched one by one (a loader
        that does not batch) are stacked."""
        if isinstance(batch, dict):
            return batch
        return {k: torch.stack([row[k] for row in batch]) for k in batch[0]}

    @property
    def input_ids(self) -> torch.Tensor:
        """Every block as one (n_blocks, block_size) tensor: for small data and tests."""
        return self.ds[:]["input_ids"].long() if len(self) else torch.zeros((0, 0), dtype=torch.long)

    @property
    def n_tokens(self) -> int:
        return len(self) * self.block_size

    @property
    def bytes_per_token(self) -> float:
        """Text bytes per token of this arm's stream: turns tokens seen into bytes seen."""
        return self.text_bytes / max(self.stream_tokens, 1)


def lm_blocks(tokenizer, texts: list[str], block_size: int, root: Path | None = None) -> TokenBlocks:
    """``[TASK_START] text [TASK_END]`` for every text, concatenated and cut into blocks
    (only the final remainder, shorter than a block, is dropped)."""
    root = root or cache_root()
    path = root / f"lm-blocks-{_key(tokenizer, texts, block_size)}"
    if not (path / "meta.json").is_file():
        _build(tokenizer, texts, block_size, path)
    meta = json.loads((path / "meta.json").read_text())
    if meta["blocks"] == 0:
        ds = datasets.Dataset.from_dict({"input_ids": []}, features=FEATURES)
    else:
        ds = datasets.load_from_disk(str(path / "arrow"))
    return TokenBlocks(ds, meta["text_bytes"], meta["stream_tokens"])


def _build(tokenizer, texts: list[str], block_size: int, path: Path) -> None:
    start, end = task_token_ids(tokenizer)
    tmp = path.with_name(path.name + f".partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    totals = {"text_bytes": 0, "stream_tokens": 0}

    def blocks() -> Iterator[dict]:
        carry: list[int] = []
        for i in range(0, len(texts), BATCH):
            chunk = texts[i : i + BATCH]
            enc = tokenizer(chunk, add_special_tokens=False, split_special_tokens=True)["input_ids"]
            for t, ids in zip(chunk, enc):
                totals["text_bytes"] += len(t.encode())
                totals["stream_tokens"] += len(ids) + 2
                carry.extend((start, *ids, end))
            n = len(carry) // block_size
            for b in range(n):
                yield {"input_ids": carry[b * block_size : (b + 1) * block_size]}
            carry = carry[n * block_size :]

    datasets.disable_progress_bars()
    try:
        ds = datasets.Dataset.from_generator(
            blocks, features=FEATURES, cache_dir=str(tmp / "build"), fingerprint=path.name
        )
    except ValueError:  # not one whole block: an empty entry, reported by the caller
        ds = datasets.Dataset.from_dict({"input_ids": []}, features=FEATURES)
    ds.save_to_disk(str(tmp / "arrow"))
    (tmp / "meta.json").write_text(json.dumps({**totals, "blocks": len(ds), "block_size": block_size}))
    del ds
    shutil.rmtree(tmp / "build", ignore_errors=True)
    publish_dir(tmp, path, "meta.json")
