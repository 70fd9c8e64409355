"""arms/: how each arm builds its model and tokenizer from a local model folder (no download)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from roundtable.arms import arm_defaults
from roundtable.arms.factory import ArmFactory
from roundtable.arms.pretrained import ModelSource, resolve
from roundtable.core.errors import UserError
from roundtable.data.tokenization import task_token_ids
from tests.helpers import TINY_ARMS


def arm(name):
    return arm_defaults(name, **TINY_ARMS[name])


@pytest.fixture
def factory(tiny_pretrained):
    return ArmFactory(str(tiny_pretrained))


def test_finetune_loads_the_pretrained_weights_and_adds_task_tokens(factory, tiny_pretrained):
    a = arm("finetune")
    tok = factory.tokenizer(a, [])
    assert len(tok) == 303  # 300 + [TASK_START], [TASK_END], <pad>
    assert task_token_ids(tok) == (300, 301) and tok.pad_token_id == 302
    model = factory.model(a, tok, seed=0)
    assert model.get_input_embeddings().num_embeddings == len(tok) == model.config.vocab_size
    assert model.config.pad_token_id == tok.pad_token_id
    saved = load_file(tiny_pretrained / "model.safetensors")
    state = model.state_dict()
    for k, v in saved.items():  # the weights are the pretrained ones, not a fresh initialisation
        if k == "model.embed_tokens.weight":
            assert torch.equal(state[k][:300], v)
        else:
            assert torch.equal(state[k], v), k
    # the output head stays tied to the resized embedding
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def test_finetune_model_can_be_built_twice(factory):
    a = arm("finetune")
    tok = factory.tokenizer(a, [])
    first = factory.model(a, tok, seed=0)
    second = factory.model(a, tok, seed=1)
    assert second.get_input_embeddings().num_embeddings == len(tok)
    assert torch.equal(first.model.layers[0].mlp.up_proj.weight, second.model.layers[0].mlp.up_proj.weight)


def test_each_copy_is_independent(tiny_pretrained):
    from roundtable.arms.pretrained import PretrainedCache

    cache = PretrainedCache(resolve(str(tiny_pretrained)))
    a, b = cache.model(), cache.model()
    with torch.no_grad():
        a.model.layers[0].mlp.up_proj.weight.add_(1.0)
    assert not torch.equal(a.model.layers[0].mlp.up_proj.weight, b.model.layers[0].mlp.up_proj.weight)


def test_scratch_same_is_the_same_architecture_with_random_weights(factory, tiny_pretrained):
    tok = factory.tokenizer(arm("scratch-same"), [])
    model = factory.model(arm("scratch-same"), tok, seed=0)
    saved = load_file(tiny_pretrained / "model.safetensors")
    state = model.state_dict()
    assert {k: tuple(v.shape) for k, v in saved.items() if "embed" not in k} == {
        k: tuple(state[k].shape) for k in saved if "embed" not in k
    }
    assert not torch.equal(state["model.layers.0.mlp.up_proj.weight"], saved["model.layers.0.mlp.up_proj.weight"])
    assert model.get_input_embeddings().num_embeddings == len(tok)


def test_lora_trains_a_small_part(factory):
    a = arm("finetune-lora")
    tok = factory.tokenizer(a, [])
    model = factory.model(a, tok, seed=0)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert 0 < trainable < total


def test_scratch_arms_use_their_own_tokenizers(factory, paragraphs):
    from roundtable.data.corpus import Record

    train = [Record(text=p) for p in paragraphs[:50]]
    lstm = factory.tokenizer(arm("scratch-lstm"), [r.text for r in train])
    assert len(lstm) == 259
    bpe = factory.tokenizer(arm_defaults("scratch-transformer", tokenizer="bpe", bpe_vocab_size=400), [r.text for r in train])
    assert len(bpe) == 403  # 400 learned + 3 specials
    m = factory.model(arm("scratch-lstm"), lstm, seed=0)
    assert m.get_input_embeddings().num_embeddings == 259
    assert factory._cache is None  # the pretrained model is never loaded for scratch arms


@pytest.mark.parametrize("name", ["finetune", "finetune-lora", "scratch-same", "scratch-transformer", "scratch-lstm"])
def test_initial_weights_depend_only_on_the_seed(factory, paragraphs, name):
    """The task tokens' new embeddings and LoRA's matrices are random draws: the same
    seed gives the same initial model whether the arm runs alone or after another arm."""
    a = arm(name)
    tok = factory.tokenizer(a, [])
    alone = {k: v.clone() for k, v in factory.model(a, tok, seed=3).state_dict().items()}
    other = arm("scratch-transformer")
    factory.model(other, factory.tokenizer(other, []), seed=7)  # another run moves the global RNG
    torch.rand(1000)
    after = factory.model(a, tok, seed=3).state_dict()
    assert alone.keys() == after.keys()
    for k, v in alone.items():
        assert torch.equal(v, after[k]), k
    different = factory.model(a, tok, seed=4).state_dict()
    changed = any(not torch.equal(v, different[k]) for k, v in alone.items())
    # finetune draws nothing: its new task-token rows are the exact mean embedding, so its
    # step-0 score is the same for every seed (and is scored once per comparison)
    assert changed == (name != "finetune")


def test_model_names(factory, tiny_pretrained):
    assert factory.model_name(arm("scratch-lstm")) == "lstm-2x16-byte"
    assert factory.model_name(arm("scratch-transformer")) == "llama-1x16-byte"
    assert factory.model_name(arm("finetune")) == str(tiny_pretrained)
    assert factory.model_name(arm("finetune-lora")) == f"{tiny_pretrained}+lora"


def test_resolve(tmp_path, tiny_pretrained):
    assert resolve(str(tiny_pretrained)) == ModelSource(str(tiny_pretrained.resolve()))
    assert resolve("some-org/some-model") == ModelSource("some-org/some-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no config.json"):
        resolve(str(tmp_path / "empty"))
    with pytest.raises(UserError, match="no such .gguf file"):
        resolve(str(tmp_path / "missing.gguf"))
    (tmp_path / "weights.safetensors").write_bytes(b"x")
    with pytest.raises(UserError, match="not a .gguf model"):
        resolve(str(tmp_path / "weights.safetensors"))
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(UserError, match="pickled checkpoint"):
        resolve(str(tmp_path / "weights.bin"))
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "m.gguf").write_bytes(b"GGUF")
    assert resolve(str(tmp_path / "g")) == ModelSource(str((tmp_path / "g").resolve()), "m.gguf")


def _bigram(factory, arm, tokenizer, seed):
    """A toy arm's model: one tiny attention layer over byte tokens."""
    from roundtable.arms.transformer import build_transformer

    start, end = task_token_ids(tokenizer)
    return build_transformer(len(tokenizer), 1, 8, 1, arm.block_size, 0.0, seed, start, end, tokenizer.pad_token_id)


@pytest.fixture
def toy_arm():
    from roundtable.arms import ArmSpec, register_arm, unregister_arm
    from roundtable.data.tokenization import byte_tokenizer

    spec = register_arm(ArmSpec(
        "toy-attention", "scratch", "one 8-wide attention layer", "train the toy from scratch",
        build_tokenizer=lambda factory, arm, train: byte_tokenizer(), build_model=_bigram,
        model_name=lambda model, arm: "toy-1x8-byte", defaults={"learning_rate": 3e-3, "batch_size": 4},
    ))
    yield spec
    unregister_arm(spec.name)


def test_an_arm_registered_outside_the_package_runs_a_comparison(toy_arm, lm_files, tmp_path):
    """Adding an arm is one row: its recipe, name and advice come from the table, and
    it trains, is scored and judged like the built-in arms, with no other module edited."""
    import roundtable

    train, valid = lm_files
    results = roundtable.compare(
        task="lm", data=train, valid=valid, arms=["toy-attention", "scratch-lstm"], max_steps=3, lr_search=0,
        curve_points=0, arm_settings={"scratch-lstm": TINY_ARMS["scratch-lstm"]}, context_bytes=32,
        out=tmp_path / "toy", log=None, no_progress=True,
    )
    toy = results.runs_of("toy-attention")[0]
    assert toy.status == "ok" and toy.model == "toy-1x8-byte" and toy.steps == 3
    assert toy.raw["recipe"]["learning_rate"] == 3e-3 and toy.raw["recipe"]["batch_size"] == 4
    assert toy.trainable_params == sum(p.numel() for p in _bigram(None, arm_defaults("toy-attention", block_size=32),
                                                                   _byte(), 0).parameters())
    v = results.verdict
    best = min(results.runs, key=lambda r: r.bits_per_byte).arm
    assert best in v.sentence and v.winner == (best if v.separated else None)
    if v.separated:  # the advice is the winning row's own
        advice = {"toy-attention": "Train the toy from scratch", "scratch-lstm": "Train the LSTM from scratch"}
        assert v.sentence.startswith(advice[best]), v.sentence


def _byte():
    from roundtable.data.tokenization import byte_tokenizer

    return byte_tokenizer()


def test_an_unknown_arm_names_the_registered_ones():
    with pytest.raises(UserError, match="unknown arm 'gpt5'; choose from finetune, finetune-lora, scratch-lstm"):
        arm_defaults("gpt5")


def test_a_copy_of_an_arm_is_the_arm_under_another_name_with_other_seeds():
    from roundtable.arms import COPY_SEED_STRIDE, parse_arms, run_seed, split_name

    settings = {"scratch-lstm": {"lstm_hidden": 16}, "scratch-lstm#3": {"learning_rate": 0.1}}
    a, b, c = parse_arms("scratch-lstm,scratch-lstm#2,scratch-lstm#3", settings)
    assert (a.name, b.name, c.name) == ("scratch-lstm", "scratch-lstm#2", "scratch-lstm#3")
    same = {k: v for k, v in vars(b).items() if k != "name"}
    assert same == {k: v for k, v in vars(a).items() if k != "name"} and b.lstm_hidden == 16  # its arm's settings
    assert c.lstm_hidden == 16 and c.learning_rate == 0.1  # then its own: an A/B with a planted difference
    assert split_name("scratch-lstm#12") == ("scratch-lstm", 12) and split_name("finetune") == ("finetune", 1)
    assert [run_seed("scratch-lstm", s) for s in (0, 1)] == [0, 1]
    assert [run_seed("scratch-lstm#2", s) for s in (0, 1)] == [COPY_SEED_STRIDE, COPY_SEED_STRIDE + 1]
    assert run_seed("scratch-lstm#3", 0) == 2 * COPY_SEED_STRIDE


@pytest.mark.parametrize("arms, message", [
    ("scratch-lstm,scratch-lstm#", "'scratch-lstm#': a copy of an arm is NAME#K with K a whole number from 2"),
    ("scratch-lstm,scratch-lstm#x", "'scratch-lstm#x': a copy of an arm is NAME#K"),
    ("scratch-lstm,scratch-lstm#1", "'scratch-lstm#1': a copy of an arm is NAME#K"),
    ("scratch-lstm,scratch-lstm#02", "'scratch-lstm#02': a copy of an arm is NAME#K"),
    ("scratch-lstm,gpt5#2", "unknown arm 'gpt5'"),
    ("scratch-lstm#2,scratch-lstm#2", "--arms lists an arm twice"),
])
def test_a_bad_copy_name_is_one_line_and_exit_2(run_cli, lm_files, tmp_path, arms, message):
    train, valid = lm_files
    rc, _, err = run_cli(["compare", "--task", "lm", "--data", str(train), "--arms", arms, "--out", str(tmp_path)])
    assert rc == 2 and err.count("\n") == 1 and message in err, err


def test_an_a_a_comparison_runs_the_copy_on_other_seeds_under_its_own_name(tmp_path, lm_files):
    import numpy as np

    import roundtable

    train, valid = lm_files
    out = tmp_path / "aa"
    results = roundtable.compare(
        task="lm", data=train, valid=valid, arms=["scratch-lstm", "scratch-lstm#2"], max_steps=3, lr_search=0,
        curve_points=1, arm_settings={"scratch-lstm": TINY_ARMS["scratch-lstm"]}, context_bytes=32,
        out=out, log=None, no_progress=True,
    )
    (a,), (b,) = results.runs_of("scratch-lstm"), results.runs_of("scratch-lstm#2")
    assert a.status == b.status == "ok" and a.steps == b.steps == 3
    assert (a.seed, b.seed) == (0, 0) and (a.train_seed, b.train_seed) == (0, 1_000_000)  # paired, drawn apart
    assert a.raw["recipe"] == {**b.raw["recipe"], "name": "scratch-lstm"}  # the same arm
    assert b.run_dir == "runs/scratch-lstm#2-seed0-frac1" and (out / b.run_dir / "valid_scores.npz").is_file()
    assert a.bits_per_byte != b.bits_per_byte  # other weights and data order: not bit-identical
    assert a.curve[0].subset_bits_per_byte != b.curve[0].subset_bits_per_byte  # other initial weights
    x, y = (np.load(out / r.run_dir / "valid_scores.npz") for r in (a, b))
    assert x["doc_bytes"].tolist() == y["doc_bytes"].tolist()  # on the same bytes
    assert "scratch-lstm#2" in (out / "report.md").read_text(encoding="utf-8")
    assert {results.verdict.leader} <= {"scratch-lstm", "scratch-lstm#2"}
