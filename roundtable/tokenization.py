"""Tokenizers for the from-scratch arms, and the task tokens every arm shares.

The byte-level tokenizer maps byte b to id b (ids 0..255), then the task tokens and
padding; so an untrained model with uniform output over the 256 bytes scores exactly
8 bits per byte. BPE is trained on the train split only, never on validation text.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast
from transformers.convert_slow_tokenizer import bytes_to_unicode

from roundtable import TASK_END, TASK_START

PAD = "<pad>"
SPECIALS = [TASK_START, TASK_END, PAD]


def _wrap(tk: Tokenizer) -> PreTrainedTokenizerFast:
    tk.add_special_tokens(SPECIALS)
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, pad_token=PAD, additional_special_tokens=[TASK_START, TASK_END]
    )


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """256 byte tokens (id == byte value) + [TASK_START], [TASK_END], <pad>."""
    b2u = bytes_to_unicode()
    tk = Tokenizer(models.BPE(vocab={b2u[b]: b for b in range(256)}, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tk.decoder = decoders.ByteLevel()
    return _wrap(tk)


def train_bpe(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE learned from the training texts (never the validation texts)."""
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    tk.train_from_iterator(texts, trainer=trainer)
    return _wrap(tk)


def add_task_tokens(tokenizer: PreTrainedTokenizerBase) -> int:
    """Add [TASK_START]/[TASK_END] (and a pad token if missing); returns how many were new."""
    added = tokenizer.add_special_tokens({"additional_special_tokens": [TASK_START, TASK_END]})
    if tokenizer.pad_token is None:
        added += tokenizer.add_special_tokens({"pad_token": PAD})
    return added


def task_token_ids(tokenizer: PreTrainedTokenizerBase) -> tuple[int, int]:
    start, end = tokenizer.convert_tokens_to_ids([TASK_START, TASK_END])
    if start is None or end is None or start == tokenizer.unk_token_id:
        raise ValueError("tokenizer lacks the task tokens; call add_task_tokens first")
    return start, end


def encode_texts(tokenizer: PreTrainedTokenizerBase, texts: list[str], batch: int = 1000) -> list[list[int]]:
    """Batched fast tokenization of raw text. Task tokens written inside the user's text
    are treated as plain text, so only our own wrapping produces them."""
    out: list[list[int]] = []
    for i in range(0, len(texts), batch):
        enc = tokenizer(texts[i : i + batch], add_special_tokens=False, split_special_tokens=True)
        out.extend(enc["input_ids"])
    return out
