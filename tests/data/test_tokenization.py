"""tokenization.py: the byte tokenizer, the task tokens, BPE trained on the train split only."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer
from transformers.convert_slow_tokenizer import bytes_to_unicode

from roundtable import TASK_END, TASK_START
from roundtable.data.tokenization import add_task_tokens, byte_tokenizer, encode_texts, task_token_ids, train_bpe

SAMPLES = [
    "plain ASCII, with  two spaces and a tab\there",
    "naïve café — “quotes” … 日本語 and an emoji 🦜",
    "\n leading newline and trailing space ",
    "".join(chr(c) for c in range(1, 256)),  # every Latin-1 code point: 1- and 2-byte UTF-8
]
INJECTED = f"user text that writes {TASK_START} and {TASK_END} and <pad> itself"


def test_byte_tokenizer_id_is_the_byte_value():
    tok = byte_tokenizer()
    for text in SAMPLES:
        (ids,) = encode_texts(tok, [text])
        assert ids == list(text.encode("utf-8"))
        assert tok.decode(ids) == text


def test_byte_tokenizer_special_ids():
    tok = byte_tokenizer()
    assert len(tok) == 259
    assert task_token_ids(tok) == (256, 257)
    assert tok.pad_token == "<pad>" and tok.pad_token_id == 258
    assert tok.convert_tokens_to_ids([TASK_START, TASK_END, "<pad>"]) == [256, 257, 258]


def test_task_tokens_in_user_text_stay_plain_text(tiny_pretrained):
    pretrained = AutoTokenizer.from_pretrained(tiny_pretrained)
    assert add_task_tokens(pretrained) == 3  # [TASK_START], [TASK_END] and <pad>: the tiny model has none
    tokenizers = {
        "byte": byte_tokenizer(),
        "bpe": train_bpe([INJECTED, "some more training text"] * 5, 300),
        "pretrained": pretrained,
    }
    for name, tok in tokenizers.items():
        special = {*task_token_ids(tok), tok.pad_token_id}
        (ids,) = encode_texts(tok, [INJECTED])
        assert not special & set(ids), name
        assert tok.decode(ids) == INJECTED, name
    (ids,) = encode_texts(tokenizers["byte"], [INJECTED])
    assert ids == list(INJECTED.encode())


def test_add_task_tokens_keeps_an_existing_pad_token(tiny_pretrained):
    tok = AutoTokenizer.from_pretrained(tiny_pretrained)
    tok.add_special_tokens({"pad_token": "<|endoftext|>"})
    n = len(tok)
    assert add_task_tokens(tok) == 2
    assert len(tok) == n + 2 and tok.pad_token == "<|endoftext|>"
    assert add_task_tokens(tok) == 0  # idempotent
    assert task_token_ids(tok) == (n, n + 1)


def test_task_token_ids_requires_the_tokens(tiny_pretrained):
    with pytest.raises(ValueError, match="add_task_tokens"):
        task_token_ids(AutoTokenizer.from_pretrained(tiny_pretrained))


def _token_bytes(token: str) -> bytes:
    u2b = {u: b for b, u in bytes_to_unicode().items()}
    return bytes(u2b[c] for c in token)


def test_bpe_is_trained_only_on_the_given_text():
    train = ["the cat sat on the mat", "the cat ate the rat", "a mat for the cat"] * 20
    held_out = "zebra quagga xylophone " * 50  # never given to train_bpe
    tok = train_bpe(train, vocab_size=400)
    train_bytes = " ".join(train).encode()
    merged = [t for t in tok.get_vocab() if t not in (TASK_START, TASK_END, "<pad>") and len(t) > 1]
    assert merged, "the training text should yield merges"
    for t in merged:  # every learned token is a piece of the training text
        assert _token_bytes(t) in train_bytes, t
    vocab = tok.get_vocab()
    assert "Ġcat" in vocab and "Ġzebra" not in vocab and "zebra" not in vocab
    (ids,) = encode_texts(tok, [held_out])  # still encodable, byte by byte where need be
    assert tok.decode(ids) == held_out


def test_bpe_of_a_scratch_arm_sees_only_the_train_split(tmp_path, paragraphs):
    from roundtable.arms import arm_defaults
    from roundtable.comparison.runner import Comparison
    from roundtable.config.settings import BudgetConfig, CompareConfig, DataConfig
    from tests.helpers import write_paragraphs

    word = "Qzxjvkwq"  # appears only in validation documents
    train = write_paragraphs(tmp_path / "train.txt", paragraphs[:60])
    valid = write_paragraphs(tmp_path / "valid.txt", [f"{p} {word} {word} {word}" for p in paragraphs[60:80]])
    cfg = CompareConfig(
        task="lm", data=DataConfig(path=str(train), valid=str(valid)), budget=BudgetConfig(seconds=None, max_steps=1),
        arms=[arm_defaults("scratch-lstm", tokenizer="bpe", bpe_vocab_size=1000, block_size=32)],
        out=str(tmp_path / "out"), device="cpu",
    )
    comp = Comparison(cfg, progress=False)
    comp.prepare()
    tok = comp._prepared[("scratch-lstm", 1.0)].tokenizer
    train_bytes = " ".join(r.text for r in comp.corpus.train).encode()
    learned = [t for t in tok.get_vocab() if t not in (TASK_START, TASK_END, "<pad>") and len(t) > 1]
    assert len(learned) > 100
    assert all(_token_bytes(t) in train_bytes for t in learned)
    assert not any(b"Qzx" in _token_bytes(t) or b"zxj" in _token_bytes(t) for t in learned)
