"""Language modelling: predict every byte of every document.

Every arm sees the same format, ``[TASK_START] text [TASK_END]``, in blocks that hold
the same bytes of text for every arm (``--context-bytes``). Scored text is exactly the
document bytes, so the evaluator divides by the same number for every arm.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from roundtable.data import Record
from roundtable.errors import DataError
from roundtable.tasks.base import Task, TrainingData

MIN_SAMPLE_BYTES = 4096
"""The least text a cut LM sample keeps: about a thousand tokens of the default model."""
MIN_CUT_BYTES = 512
"""The shortest leading part a document is cut to; below it, fewer documents are kept."""


class LMTask(Task):
    name = "lm"
    primary_metric = "valid_bits_per_byte"
    lower_is_better = True
    curve_key = "subset_bits_per_byte"
    doc_key = "doc_nll_nats"
    unit = "bits per byte"

    def _stream(self, tokenizer, records: list[Record]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from roundtable.tokenization import encode_texts, task_token_ids

        start, end = task_token_ids(tokenizer)
        ids, scored, doc = [], [], []
        for i, toks in enumerate(encode_texts(tokenizer, [r.text for r in records])):
            ids += [start, *toks, end]
            scored += [False] + [True] * len(toks) + [False]
            doc += [-1] + [i] * len(toks) + [-1]
        return np.asarray(ids, np.int64), np.asarray(scored, bool), np.asarray(doc, np.int32)

    def train_data(self, tokenizer, records, arm, context_bytes) -> TrainingData:
        """Blocks of one token stream; the block is the context in bytes divided by the
        arm's bytes per token on the training split, unless the arm sets its own."""
        from roundtable.tokenization import block_for, bytes_per_token

        bpt = bytes_per_token(tokenizer, [r.text for r in records])
        block = arm.block_size or block_for(context_bytes, bpt)
        return TrainingData(self.train_dataset(tokenizer, records, block, arm.name), block, round(block * bpt))

    def train_dataset(self, tokenizer, records: list[Record], block_size: int, arm: str):
        from roundtable.tokencache import lm_blocks

        blocks = lm_blocks(tokenizer, [r.text for r in records], block_size)
        if len(blocks) == 0:
            raise DataError(
                f"training data too small for one training block of arm {arm}: "
                f"{blocks.stream_tokens} tokens < block size {block_size}"
            )
        return blocks

    def eval_set(self, tokenizer, records):
        from roundtable.evaluate import EvalSequence, EvalSet

        ids, scored, doc = self._stream(tokenizer, records)
        return EvalSet(
            sequences=[EvalSequence(ids=ids, scored=scored, doc=doc)],
            doc_bytes=np.asarray([len(r.text.encode()) for r in records], np.int64),
            pad_id=tokenizer.pad_token_id,
        )

    def eval_sample(self, records, max_bytes):
        """Every document cut to its leading part, at one length for all that are longer
        (the largest that fits in ``max_bytes``, at least MIN_SAMPLE_BYTES in all): each
        document stays a unit of the bootstrap, and the sample spans all of them rather
        than the first few, unless that length would be under MIN_CUT_BYTES."""
        from roundtable.data import cut_bytes

        max_bytes = max(max_bytes, MIN_SAMPLE_BYTES)
        sizes = sorted(self.scored_bytes(records))
        level, before = 0, 0
        for i, n in enumerate(sizes):  # the largest level with sum(min(size, level)) <= max_bytes
            level = (max_bytes - before) // (len(sizes) - i)
            if level < n:
                break
            before += n
        else:
            return list(records)
        if level >= MIN_CUT_BYTES:
            return [replace(r, text=cut_bytes(r.text, level)) for r in records]
        # too many documents to keep a useful part of each: the leading ones, each cut to
        # MIN_CUT_BYTES (a handful of bytes after a document's start is not language modelling)
        out, total = [], 0
        for r in records:
            n = min(len(r.text.encode()), MIN_CUT_BYTES)
            if out and total + n > max_bytes:
                break
            out.append(replace(r, text=cut_bytes(r.text, MIN_CUT_BYTES)))
            total += n
        return out

    def samples(self, model, tokenizer, valid, bytes_per_token):
        """Three continuations of the first validation documents' openings."""
        from roundtable.data import cut_bytes
        from roundtable.generate import lm_samples

        prompts = [cut_bytes(r.text, 80) for r in valid[:3]]
        return lm_samples(model, tokenizer, prompts, 200, bytes_per_token)

    @staticmethod
    def demo_data(folder):
        from roundtable.demo import write_lm_data

        return write_lm_data(folder)
