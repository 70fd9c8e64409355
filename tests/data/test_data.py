"""data.py: reading every input format, the document-level split, leak removal, nested subsets."""

from __future__ import annotations

import csv
import json
import re

import pytest

from roundtable.config.settings import DataConfig
from roundtable.core.errors import DataError
from roundtable.data.corpus import Record, nested_subset
from tests.helpers import load_task_corpus, write_paragraphs


def corpus(path, task="lm", **kw):
    return load_task_corpus(DataConfig(path=str(path), **kw), task)


def read_all(path, task="lm", **kw):
    """Every record of ``path`` (validation is a separate dummy file, so nothing is split off)."""
    valid = path.parent / "_dummy_valid.jsonl"
    fields = [kw.get("text_field", "text"), kw.get("document_field", "document"), kw.get("summary_field", "summary")]
    valid.write_text(json.dumps({f: "a validation document in no training file" for f in fields}), encoding="utf-8")
    c = load_task_corpus(DataConfig(path=str(path), valid=str(valid), **kw), task)
    return c.train


# -- formats -------------------------------------------------------------------------


def test_txt_is_split_into_paragraph_documents(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("First para\nstill first.\n\n\n \t\nSecond para.\n\nThird.\n", encoding="utf-8")
    records = read_all(p)
    assert [r.text for r in records] == ["First para\nstill first.", "Second para.", "Third."]
    # the line each document starts on: 1, 6 (after 2 blank lines and a whitespace line), 8
    assert [r.source for r in records] == [f"{p}:1", f"{p}:6", f"{p}:8"]


def test_txt_leading_bom_is_not_text(tmp_path):
    p = tmp_path / "bom.txt"
    p.write_bytes("\ufeffHello there.\n\nSecond.".encode())
    assert [r.text for r in read_all(p)] == ["Hello there.", "Second."]


def test_txt_with_crlf_line_ends_splits_like_lf(tmp_path):
    lf, crlf = tmp_path / "lf.txt", tmp_path / "crlf.txt"
    lf.write_bytes(b"One.\n\nTwo.\n\nThree.\n")
    crlf.write_bytes(b"One.\r\n\r\nTwo.\r\n\r\nThree.\r\n")
    assert [r.text for r in read_all(crlf)] == [r.text for r in read_all(lf)] == ["One.", "Two.", "Three."]


def test_folder_of_files_one_document_per_file(tmp_path):
    d = tmp_path / "docs"
    (d / "sub").mkdir(parents=True)
    (d / ".hidden").mkdir()
    (d / "a.txt").write_text("Alpha one.\n\nAlpha two.\n", encoding="utf-8")
    (d / "sub" / "b.md").write_text("# Beta\n", encoding="utf-8")
    (d / ".hidden" / "c.txt").write_text("hidden folder\n", encoding="utf-8")
    (d / ".d.txt").write_text("hidden file\n", encoding="utf-8")
    records = read_all(d)
    # a whole file is one document, even with blank lines inside; dot-files and dot-folders are skipped
    assert [r.text for r in records] == ["Alpha one.\n\nAlpha two.", "# Beta"]
    assert [r.source for r in records] == [f"{d / 'a.txt'}:1", f"{d / 'sub' / 'b.md'}:1"]


def test_jsonl_with_text_field(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_text(
        json.dumps({"body": " first ", "other": 1}) + "\n\n" + json.dumps({"body": "second"}) + "\n", encoding="utf-8"
    )
    records = read_all(p, text_field="body")
    assert [r.text for r in records] == ["first", "second"]
    assert [r.source for r in records] == [f"{p}:1", f"{p}:3"]  # the blank line 2 is skipped, not counted away


def test_json_list_and_object_holding_one_list(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps([{"content": "one"}, {"content": "two"}]), encoding="utf-8")
    b.write_text(json.dumps({"meta": {"n": 2}, "rows": [{"content": "one"}, {"content": "two"}]}), encoding="utf-8")
    assert [r.text for r in read_all(a, text_field="content")] == ["one", "two"]
    assert [r.text for r in read_all(b, text_field="content")] == ["one", "two"]
    assert read_all(a, text_field="content")[1].source == f"{a}:record 2"


def test_csv_with_text_field(tmp_path):
    p = tmp_path / "r.csv"
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "body"])
        w.writerow([1, "plain"])
        w.writerow([2, "has, a comma\nand a newline"])
    records = read_all(p, text_field="body")
    assert [r.text for r in records] == ["plain", "has, a comma\nand a newline"]


def test_summarize_records_have_document_and_summary(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text(json.dumps({"article": "A long text.", "tldr": "Short."}) + "\n", encoding="utf-8")
    (r,) = read_all(p, task="summarize", document_field="article", summary_field="tldr")
    assert (r.text, r.summary) == ("A long text.", "Short.")


def test_jsonl_line_separator_inside_a_string_is_text(tmp_path):
    p = tmp_path / "u.jsonl"
    p.write_text(
        "\n".join(json.dumps({"text": t}, ensure_ascii=False) for t in ["one\u2028two", "three\u0085four"]) + "\n",
        encoding="utf-8",
    )
    assert [r.text for r in read_all(p)] == ["one\u2028two", "three\u0085four"]


def test_skip_bad_records_counts_them(tmp_path):
    p = tmp_path / "r.jsonl"
    lines = [{"text": "good one"}, {"nope": "x"}, {"text": 3}, {"text": "   "}, {"text": "good two"}]
    p.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    c = corpus(p, valid=str(write_paragraphs(tmp_path / "v.txt", ["valid doc"])), skip_bad_records=True)
    assert [r.text for r in c.train] == ["good one", "good two"]
    assert c.skipped_records == 3
    assert [e.split(": ", 1)[0] for e in c.skipped_examples] == [f"{p}:2", f"{p}:3", f"{p}:4"]


def test_a_field_no_record_holds_names_the_field_flag_not_skipping(tmp_path):
    """Skipping every record would leave nothing: the fix is the flag that picks the field,
    with or without --skip-bad-records."""
    p = tmp_path / "r.jsonl"
    p.write_text("\n".join(json.dumps({"body": f"doc {i}", "id": i}) for i in range(3)) + "\n", encoding="utf-8")
    for skip in (False, True):
        with pytest.raises(DataError) as e:
            corpus(p, skip_bad_records=skip)
        assert str(e.value) == f"{p}:1: no record has a field 'text' (fields found: body, id); choose one with " \
                               "--text-field NAME"
    j = tmp_path / "r.json"
    j.write_text(json.dumps([{"article": "a", "summary": "s"}] * 2), encoding="utf-8")
    with pytest.raises(DataError, match=rf"{re.escape(str(j))}:record 1: no record has a field 'document' .*"
                                        "choose one with --document-field NAME$"):
        corpus(j, task="summarize")


def test_a_record_without_a_field_others_hold_suggests_skipping_it(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_text(json.dumps({"text": "good"}) + "\n" + json.dumps({"body": "odd one"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        corpus(p)
    assert str(e.value) == f"{p}:2: missing field 'text' (fields found: body) (pass --skip-bad-records to skip " \
                           "such records)"


@pytest.mark.parametrize("task,header,flag", [
    ("lm", "body,id", "--text-field"), ("summarize", "article,summary", "--document-field"),
    ("summarize", "document,abstract", "--summary-field"),
])
def test_a_missing_csv_column_names_the_flag_that_picks_it(tmp_path, task, header, flag):
    p = tmp_path / "t.csv"
    p.write_text(header + "\nsome text,more text\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"t.csv:1: no column .* \(columns: {header.replace(',', ', ')}\); "
                                        rf"choose one with {flag} NAME$"):
        corpus(p, task=task)


def test_encoding_errors_replace_reads_the_file(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_bytes(b"caf\xe9 au lait\n\nsecond\n")
    (first, second) = read_all(p, encoding_errors="replace")
    assert first.text == "caf\ufffd au lait" and second.text == "second"


# -- split ---------------------------------------------------------------------------


def test_split_is_deterministic_document_level_and_sized(english_txt):
    a = corpus(english_txt, split_seed=0)
    b = corpus(english_txt, split_seed=0)
    c = corpus(english_txt, split_seed=1)
    assert a.train == b.train and a.valid == b.valid
    # 300 distinct paragraphs, valid_fraction 0.1: round(30.0) = 30 held out
    assert (len(a.train), len(a.valid), a.overlap_removed) == (270, 30, 0)
    assert {r.key for r in c.valid} != {r.key for r in a.valid}
    # documents are whole paragraphs, and together they are exactly the file's paragraphs
    paras = english_txt.read_text(encoding="utf-8").strip().split("\n\n")
    assert sorted(r.text for r in a.train + a.valid) == sorted(paras)
    # the split keeps file order inside each side
    index = {p: i for i, p in enumerate(paras)}
    assert [index[r.text] for r in a.train] == sorted(index[r.text] for r in a.train)


def test_valid_fraction_sets_the_number_held_out(english_txt):
    assert len(corpus(english_txt, valid_fraction=0.25).valid) == 75  # round(0.25 * 300)
    assert len(corpus(english_txt, valid_fraction=0.001).valid) == 1  # at least one


def test_document_in_train_and_valid_is_removed_from_train_and_counted(tmp_path, paragraphs):
    train = paragraphs[:20] + [paragraphs[100]]
    valid = paragraphs[100:105]
    tp = write_paragraphs(tmp_path / "train.txt", train)
    # the same document with different whitespace is the same document
    vp = write_paragraphs(tmp_path / "valid.txt", [p.replace(" ", "  \n", 1) for p in valid])
    c = corpus(tp, valid=str(vp))
    assert c.overlap_removed == 1
    assert len(c.train) == 20 and len(c.valid) == 5
    assert paragraphs[100] not in [r.text for r in c.train]
    assert c.summary()["overlap_removed"] == 1


def test_duplicates_split_across_sides_are_removed_from_train(tmp_path, paragraphs):
    # 100 paragraphs, each written 3 times: any copy that lands in valid takes its twins out of train
    docs = [p for p in paragraphs[:100] for _ in range(3)]
    c = corpus(write_paragraphs(tmp_path / "dups.txt", docs), split_seed=3)
    assert len(c.valid) == 30  # round(0.1 * 300)
    valid_keys = {r.key for r in c.valid}
    assert not valid_keys & {r.key for r in c.train}
    # every document is in valid, in train, or counted as removed
    assert len(c.train) + len(c.valid) + c.overlap_removed == 300
    assert c.overlap_removed == sum(3 for k in valid_keys) - len(c.valid)


def test_every_train_document_in_valid_is_an_error(tmp_path, paragraphs):
    tp = write_paragraphs(tmp_path / "train.txt", paragraphs[:3])
    vp = write_paragraphs(tmp_path / "valid.txt", paragraphs[:5])
    with pytest.raises(DataError, match="every training document also occurs in the validation data"):
        corpus(tp, valid=str(vp))


def test_one_document_cannot_be_split(tmp_path):
    p = tmp_path / "one.txt"
    p.write_text("Just one paragraph.\n", encoding="utf-8")
    with pytest.raises(DataError, match="holds one document"):
        corpus(p)


def test_summary_counts_utf8_bytes(tmp_path):
    tp = write_paragraphs(tmp_path / "train.txt", ["héllo", "abc"])  # 6 + 3 bytes
    vp = write_paragraphs(tmp_path / "valid.txt", ["naïve café"])  # 12 bytes
    s = corpus(tp, valid=str(vp)).summary()
    assert (s["train_bytes"], s["valid_bytes"], s["train_records"], s["valid_records"]) == (9, 12, 2, 1)


# -- nested subsets ------------------------------------------------------------------


def test_nested_subset_is_nested_deterministic_and_ordered():
    records = [Record(text=f"document {i}") for i in range(97)]
    fractions = [0.05, 0.1, 0.3, 0.5, 0.99, 1.0]
    subsets = [nested_subset(records, f, seed=7) for f in fractions]
    # ceil(f * 97): 5, 10, 30, 49, 97 (0.99 * 97 = 96.03 -> 97), and everything at 1.0
    assert [len(s) for s in subsets] == [5, 10, 30, 49, 97, 97]
    for small, large in zip(subsets, subsets[1:]):
        assert set(small) <= set(large)
    assert nested_subset(records, 0.3, seed=7) == subsets[2]
    assert nested_subset(records, 0.3, seed=8) != subsets[2]
    assert subsets[2] == [r for r in records if r in set(subsets[2])]  # original order kept
    assert len(nested_subset(records, 0.001, seed=0)) == 1  # never empty


# -- no validation document in training ------------------------------------------------


def tags_in(data: bytes) -> set[str]:
    return set(re.findall(r"<doc(\d{3})>", data.decode("utf-8", errors="replace")))


def training_bytes(dataset) -> bytes:
    """The text of an arm's training blocks (byte tokenizer: id == byte; task tokens -> NUL)."""
    ids = dataset.input_ids.flatten().tolist()
    return bytes(i if i < 256 else 0 for i in ids)


@pytest.mark.parametrize("with_valid_file", [False, True])
def test_no_validation_document_in_training(tmp_path, paragraphs, with_valid_file):
    from roundtable.arms import arm_defaults
    from roundtable.comparison.runner import Comparison
    from roundtable.config.settings import BudgetConfig, CompareConfig

    docs = [f"<doc{i:03d}> {p}" for i, p in enumerate(paragraphs[:200])]
    if with_valid_file:
        # documents 0..179 train; 180..199 valid, and two of them also (re-spaced) in train
        train = docs[:180] + [docs[185].replace(" ", "\n", 3), docs[190]]
        data = DataConfig(
            path=str(write_paragraphs(tmp_path / "train.txt", train)),
            valid=str(write_paragraphs(tmp_path / "valid.txt", docs[180:])),
        )
    else:
        # each of 50 documents written twice, so the split has copies on both sides
        data = DataConfig(path=str(write_paragraphs(tmp_path / "all.txt", docs[:150] + docs[:50])), split_seed=5)
    cfg = CompareConfig(
        task="lm", data=data, budget=BudgetConfig(seconds=None, max_steps=1),
        arms=[arm_defaults("scratch-lstm", block_size=64)], out=str(tmp_path / "out"), device="cpu",
    )
    comp = Comparison(cfg, progress=False)
    comp.prepare()
    c = comp.corpus
    train_tags = {r.text[4:7] for r in c.train}
    valid_tags = {r.text[4:7] for r in c.valid}
    assert not {r.key for r in c.train} & {r.key for r in c.valid}
    assert not train_tags & valid_tags
    if with_valid_file:
        assert c.overlap_removed == 2  # documents 185 and 190
        assert valid_tags == {f"{i:03d}" for i in range(180, 200)}
    else:
        # documents 0..49 have two copies: the copies left in train by a held-out twin were removed
        copies = sum(2 if int(t) < 50 else 1 for t in valid_tags)
        assert c.overlap_removed == copies - len(c.valid)
        assert len(c.train) + len(c.valid) + c.overlap_removed == 200
    seen = tags_in(training_bytes(comp._prepared[("scratch-lstm", 1.0)].data))
    assert seen, "the training blocks should hold tagged documents"
    assert not seen & valid_tags
    assert seen <= train_tags
    # only the tail shorter than one block (64 bytes) is dropped: at most the last document's tag
    assert len(train_tags - seen) <= 1
