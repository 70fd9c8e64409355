"""The LSTM generates with its recurrent state carried, and in left-padded batches."""

from __future__ import annotations

import pytest
import torch

from roundtable.arms.lstm import build_lstm
from roundtable.data.tokenization import byte_tokenizer
from roundtable.evaluate import generate as gen

PROMPTS = [b"short", b"a much longer prompt than the others", b"mid length", b"x", b"another one of some length"]


@pytest.fixture(scope="module")
def tok():
    return byte_tokenizer()


@pytest.fixture(scope="module")
def lstm(tok):
    """Weights scaled up: continuations depend on the context and differ between prompts."""
    model = build_lstm(len(tok), 16, 32, 2, 0.0, seed=3)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(6)
    return model.eval()


def prompts(tok) -> list[list[int]]:
    start = tok.convert_tokens_to_ids("[TASK_START]")
    return [[start, *p] for p in PROMPTS]


def input_lengths(model) -> tuple[list, object]:
    """The (batch, length) of every forward pass, recorded at the embedding."""
    shapes: list[tuple[int, int]] = []
    return shapes, model.embed.register_forward_hook(lambda m, i, o: shapes.append(tuple(i[0].shape)))


def test_the_carried_state_gives_the_tokens_of_re_reading_the_context(lstm, tok):
    for p in prompts(tok):
        x = torch.tensor([p])
        kw = dict(attention_mask=torch.ones_like(x), max_new_tokens=24, min_new_tokens=24, do_sample=False,
                  pad_token_id=tok.pad_token_id)
        shapes, hook = input_lengths(lstm)
        cached = lstm.generate(input_ids=x, use_cache=True, **kw)
        hook.remove()
        again = lstm.generate(input_ids=x, use_cache=False, **kw)
        assert torch.equal(cached, again)
        assert shapes == [(1, len(p))] + [(1, 1)] * 23  # the prompt once, then one token a step
    outs = {tuple(gen.complete(lstm, tok, p, 12, greedy=True)) for p in prompts(tok)}
    assert len(outs) > 2  # the prompts lead to different continuations: the check above has teeth


def test_left_padding_never_reaches_the_recurrence(lstm, tok):
    rows = prompts(tok)
    width = max(len(r) for r in rows)
    x = torch.full((len(rows), width), tok.pad_token_id)
    mask = torch.zeros_like(x)
    for i, r in enumerate(rows):
        x[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    with torch.no_grad():
        out = lstm(input_ids=x, attention_mask=mask, use_cache=True)
        for i, r in enumerate(rows):
            alone = lstm(input_ids=torch.tensor([r]), use_cache=True)
            torch.testing.assert_close(out.logits[i, width - len(r):], alone.logits[0])
            for batched, single in zip(out.cache, alone.cache):  # (h, c): the state after each row's last token
                torch.testing.assert_close(batched[:, i], single[:, 0])


@pytest.mark.parametrize("num_beams", [1, 3])
def test_complete_many_batches_the_lstm_with_the_tokens_of_one_at_a_time(lstm, tok, num_beams):
    ps = prompts(tok)
    one = [gen.complete(lstm, tok, p, 12, greedy=True, num_beams=num_beams) for p in ps]
    shapes, hook = input_lengths(lstm)
    many = gen.complete_many(lstm, tok, ps, 12, num_beams=num_beams, batch_size=8)
    hook.remove()
    assert many == one
    assert shapes[0] == (len(ps) * num_beams, max(len(p) for p in ps))  # every prompt in one batch
    assert all(s[1] == 1 for s in shapes[1:])  # then one new token per step
