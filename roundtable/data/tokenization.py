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

from roundtable.core.tokens import TASK_END, TASK_START

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


def bytes_per_token(tokenizer: PreTrainedTokenizerBase, texts: list[str], max_bytes: int = 2_000_000) -> float:
    """UTF-8 bytes per token of the arm's training stream, ``[TASK_START] text [TASK_END]``
    per document, measured on the leading ``max_bytes`` of the texts: what turns a context
    in bytes into a block in the arm's own tokens."""
    sample, total = [], 0
    for t in texts:
        sample.append(t)
        total += len(t.encode())
        if total >= max_bytes:
            break
    tokens = sum(len(ids) + 2 for ids in encode_texts(tokenizer, sample))
    return total / max(tokens, 1)


def block_for(context_bytes: int, bytes_per_tok: float) -> int:
    """The block, in the arm's tokens, that holds ``context_bytes`` bytes of text."""
    return max(2, round(context_bytes / bytes_per_tok))


def first_lossy(tokenizer: PreTrainedTokenizerBase, texts: list[str]) -> int | None:
    """Index of the first text that ``decode(encode(text))`` does not give back exactly.

    Bits per byte are only valid when the scored tokens encode exactly the counted bytes:
    a tokenizer that normalises (lower-cases, NFC), maps characters to ``<unk>`` or adds a
    prefix space scores other text than the one whose bytes are counted."""
    for start in range(0, len(texts), 1000):
        chunk = texts[start : start + 1000]
        ids = encode_texts(tokenizer, chunk)
        back = tokenizer.batch_decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        for i, (a, b) in enumerate(zip(chunk, back)):
            if a != b:
                return start + i
    return None
