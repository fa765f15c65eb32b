"""The conventions a trained checkpoint depends on, pinned end to end.

Each test here follows one convention through the code that pretraining actually runs,
so that a bug which keeps every module consistent with itself (the NSP labels flipped
in data.py, clipping dropped from the loop, the loop left in eval mode, a held-out mean
taken over batches instead of tokens) still fails:

- NSP: label 0 is IsNext (B is the true continuation of A), 1 is NotNext, from
  ``data.create_sentence_pairs`` through the loss to ``NextSentencePipeline``'s answer;
- clipping: a training step with a huge gradient moves the weights by exactly an
  optimizer step on the gradient scaled to global norm 1.0;
- dropout: on in every training step of ``pretrain``, off in its evaluations;
- held-out figures: ``train.evaluate`` equals a per-token (MLM) and per-pair (NSP)
  mean over all the batches, computed here from the logits.
"""

import sys

import numpy as np
import pytest

from numpy_bert import data
from numpy_bert.config import BertConfig
from numpy_bert.model import BertForPreTraining
from numpy_bert.optim import AdamWeightDecay, global_norm
from numpy_bert.pipelines import pipeline
from numpy_bert.tokenization import BertTokenizer
from numpy_bert.train import evaluate, pretrain, read_metrics

from tests.test_train import TOPICS, write_corpus

# ---------------------------------------------------------------------------------------
# NSP: 0 = IsNext, 1 = NotNext


def id_documents(num_docs=40, seed=0):
    """Documents whose every token says where it comes from: id = 1000 + 100 * doc + sentence."""
    rng = np.random.default_rng(seed)
    return [[np.full(int(rng.integers(2, 6)), 1000 + 100 * d + s, np.int64) for s in range(int(rng.integers(2, 7)))]
            for d in range(num_docs)]


def test_nsp_label_0_is_the_true_continuation_and_1_another_document():
    docs = id_documents()
    pairs = data.create_sentence_pairs(docs, 24, np.random.default_rng(3), dupe_factor=5, cls_token_id=101,
                                       sep_token_id=102)
    batch = data.collate(pairs, 24)
    labels = {0: 0, 1: 0}
    for row, pair in enumerate(pairs):
        n_a = int((pair.token_type_ids == 0).sum()) - 2
        a, b = pair.input_ids[1:n_a + 1], pair.input_ids[n_a + 2:-1]
        doc_a, doc_b = set((a - 1000) // 100), set((b - 1000) // 100)
        assert len(doc_a) == len(doc_b) == 1
        if doc_a == doc_b:  # read off the tokens: B comes after A in A's own document
            assert ((b - 1000) % 100).min() > ((a - 1000) % 100).max()
            expected = 0  # IsNext, as HuggingFace's BertForPreTraining / NextSentencePrediction
        else:
            expected = 1  # NotNext
        assert pair.next_sentence_label == expected and batch["next_sentence_label"][row] == expected
        labels[expected] += 1
    assert labels[0] > 0.4 * len(pairs) and labels[1] > 0.4 * len(pairs)
    assert (data.IS_NEXT, data.NOT_NEXT) == (0, 1)


VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(
    set(" ".join(TOPICS).split()) | set("the a of and to in is was with for .".split()))


def tiny_tokenizer(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return BertTokenizer(str(path), do_lower_case=True)


def micro_model(vocab_size, seed=0, dtype=np.float32):
    config = BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=23, max_position_embeddings=48)
    return BertForPreTraining(config, seed=seed, dtype=dtype)


@pytest.mark.parametrize("truth", ["continuation", "other document"])
def test_nsp_from_data_through_the_loss_to_the_pipeline(tmp_path, truth):
    # pairs cut by data.py from a text corpus; the truth of each pair is read off its text
    # (every sentence of document d starts with the word TOPIC d's first word, and the
    # documents have distinct topics), not off data.py's label
    tokenizer = tiny_tokenizer(tmp_path)
    rng = np.random.default_rng(0)
    topics = [t.split() for t in TOPICS]
    docs = [[" ".join([topics[d][0]] + [str(w) for w in rng.choice(topics[d][1:], 4)]) + "."
             for _ in range(int(rng.integers(3, 6)))] for d in range(len(topics))]
    pairs = data.create_sentence_pairs(data.tokenize_documents(docs, tokenizer), 32, np.random.default_rng(1),
                                       dupe_factor=20, tokenizer=tokenizer)
    heads = {tokenizer.vocab[t[0]]: d for d, t in enumerate(topics)}

    def same_document(pair):
        n_a = int((pair.token_type_ids == 0).sum()) - 2
        a, b = pair.input_ids[1:n_a + 1], pair.input_ids[n_a + 2:-1]
        return {heads[i] for i in a if i in heads} == {heads[i] for i in b if i in heads}

    chosen = [p for p in pairs if same_document(p) == (truth == "continuation")]
    assert len(chosen) > 20
    batch = data.collate(chosen, 32, tokenizer.pad_token_id)
    # train the NSP bias alone on these pairs with data.py's labels, through the model's
    # loss: the bias learns the label these pairs carry, and nothing else can change
    model = micro_model(len(VOCAB))
    nsp = pipeline("next-sentence", model=model, tokenizer=tokenizer)
    a, b = "River water boat fish.", "River bank stream flood."
    before = nsp(a, b)["is_next"]
    for _ in range(30):
        loss, grads = model.loss_and_grads(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"],
                                           next_sentence_label=batch["next_sentence_label"])
        model.params["cls.seq_relationship.bias"] -= 1.0 * grads["cls.seq_relationship.bias"]
    answer = nsp(a, b)
    # at init the two logits are nearly equal (is_next about 0.5); 30 steps of lr 1 on the
    # bias alone bring the learned label's probability above 0.9 (the loss on one label
    # with a bias step of at most 1 per step falls below -log(0.9) within ~15 steps)
    assert abs(before - 0.5) < 0.1
    if truth == "continuation":
        assert answer["label"] == "IsNext" and answer["is_next"] > 0.9 and answer["score"] == answer["is_next"]
    else:
        assert answer["label"] == "NotNext" and answer["is_next"] < 0.1
        assert answer["score"] == pytest.approx(1 - answer["is_next"])


def test_pipeline_reads_logit_0_as_isnext(tmp_path):
    tokenizer = tiny_tokenizer(tmp_path)
    model = micro_model(len(VOCAB))
    model.params["cls.seq_relationship.weight"][:] = 0.0
    model.params["cls.seq_relationship.bias"][:] = [2.0, -1.0]  # logit 0 high
    answer = pipeline("next-sentence", model=model, tokenizer=tokenizer)("The river.", "The boat.")
    assert answer["label"] == "IsNext" and answer["is_next"] == pytest.approx(1 / (1 + np.exp(-3.0)), rel=1e-6)
    # and the loss: label 0 costs -log softmax(logits)[0]
    ids = np.array([[2, 10, 3, 11, 3]])
    types = np.array([[0, 0, 0, 1, 1]])
    for label, expected in ((0, np.log1p(np.exp(-3.0))), (1, np.log1p(np.exp(3.0)))):
        loss, _ = model.loss_and_grads(ids, types, next_sentence_label=np.array([label]))
        assert loss == pytest.approx(expected, rel=1e-5)


# ---------------------------------------------------------------------------------------
# pretrain(): clipping and dropout in the loop it runs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus") / "corpus.txt")


def _inside_evaluate():
    """Is train.evaluate on the call stack (directly or through a helper)?"""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "evaluate":
            return True
        frame = frame.f_back
    return False


def spy_on_training(monkeypatch, on_call):
    """Wrap BertForPreTraining.loss_and_grads: on_call(model, original, args, kwargs, caller) -> result,
    caller "evaluate" inside train.evaluate, else "train"."""
    original = BertForPreTraining.loss_and_grads

    def spied(self, *args, **kwargs):
        return on_call(self, original, args, kwargs, "evaluate" if _inside_evaluate() else "train")

    monkeypatch.setattr(BertForPreTraining, "loss_and_grads", spied)


HUGE_STEP = 7  # a step after warmup has begun (micro: warmup 5 steps; lr(0) is 0)


@pytest.mark.parametrize("optimizer", ["adamweightdecay", "adamw"])
def test_a_huge_gradient_moves_the_weights_by_the_clipped_step(tmp_path, corpus, monkeypatch, optimizer):
    seen = {"train_calls": 0}

    def on_call(model, original, args, kwargs, caller):
        result = original(model, *args, **kwargs)
        if model.training and caller != "evaluate":
            seen["train_calls"] += 1
            if seen["train_calls"] == HUGE_STEP:
                grads = result[1]
                for g in grads.values():
                    g *= np.float32(1e4)  # a gradient norm around 1e4 or more
                seen["raw"] = {k: g.copy() for k, g in grads.items()}
        return result

    original_step = AdamWeightDecay.step

    def step(opt, grads, lr):
        if seen["train_calls"] == HUGE_STEP and "passed" not in seen:
            seen["passed"] = {k: g.copy() for k, g in grads.items()}
            seen["before"] = {k: (p.copy(), opt.m[k].copy(), opt.v[k].copy()) for k, p in opt.params.items()}
            seen["lr"], seen["t"], seen["opt"] = lr, opt.step_count + 1, opt
        original_step(opt, grads, lr)
        if "passed" in seen and "after" not in seen:
            seen["after"] = {k: p.copy() for k, p in opt.params.items()}

    spy_on_training(monkeypatch, on_call)
    monkeypatch.setattr(AdamWeightDecay, "step", step)
    pretrain(tmp_path / "run", corpus=str(corpus), preset="micro", steps=HUGE_STEP + 1, quiet=True,
             optimizer=optimizer)
    raw_norm = global_norm(seen["raw"])
    assert raw_norm > 1e3
    assert global_norm(seen["passed"]) == pytest.approx(1.0, rel=1e-5)
    opt, lr, t = seen["opt"], seen["lr"], seen["t"]
    assert lr > 0
    b1, b2, eps, wd = opt.beta1, opt.beta2, opt.eps, opt.weight_decay
    for name, (p, m, v) in seen["before"].items():
        g = seen["raw"][name].astype(np.float64) / raw_norm        # the clipped gradient, in float64
        np.testing.assert_allclose(seen["passed"][name], g, rtol=1e-5, atol=1e-7 * np.abs(g).max(), err_msg=name)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        if opt.bias_correction:
            update = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        else:
            update = m / (np.sqrt(v) + eps)
        if opt.decay[name]:
            update = update + wd * p
        expected = p - lr * update
        # float32 weights: the step is computed in float32, about 1e-7 relative per operation
        # on the step (a few operations), plus the rounding of p itself
        moved = seen["after"][name].astype(np.float64) - p
        np.testing.assert_allclose(moved, expected - p, rtol=1e-4, atol=2 * np.finfo(np.float32).eps *
                                   (np.abs(p).max() + lr), err_msg=name)


def test_pretraining_steps_use_dropout_and_evaluations_do_not(tmp_path, corpus, monkeypatch):
    seen = {"train": [], "eval": []}

    def on_call(model, original, args, kwargs, caller):
        state = model.rng.bit_generator.state
        result = original(model, *args, **kwargs)
        moved = model.rng.bit_generator.state != state
        if caller == "evaluate":
            seen["eval"].append((model.training, moved))
        else:
            # the same batch again with dropout off (which draws nothing from the rng)
            after, training = model.rng.bit_generator.state, model.training
            model.training = False
            plain = original(model, *args, **kwargs)[0]
            model.training = training
            assert model.rng.bit_generator.state == after
            seen["train"].append((model.training, moved, result[0] != plain))
        return result

    spy_on_training(monkeypatch, on_call)
    pretrain(tmp_path / "run", corpus=str(corpus), preset="micro", steps=12, quiet=True)
    # micro: 12 steps, evaluations at steps 0, 10 and 12 over the held-out batches
    assert len(seen["train"]) == 12
    assert all(training and moved and differs for training, moved, differs in seen["train"])
    assert len(seen["eval"]) >= 3
    assert all(not training and not moved for training, moved in seen["eval"])


# ---------------------------------------------------------------------------------------
# held-out figures


def heldout_like_batches(tokenizer, sizes=(8, 8, 3), seed=5):
    """Collated, masked batches of the given sizes (different numbers of masked tokens)."""
    rng = np.random.default_rng(seed)
    words = [t.split() for t in TOPICS]
    docs = [[" ".join(str(w) for w in rng.choice(words[d % 8], int(rng.integers(3, 9)))) + "."
             for _ in range(int(rng.integers(3, 7)))] for d in range(16)]
    pairs = data.create_sentence_pairs(data.tokenize_documents(docs, tokenizer), 32, rng, tokenizer=tokenizer)
    masking = data.Masking(tokenizer, max_predictions_per_seq=5)
    instances = masking.mask_instances(pairs, rng)
    instances.sort(key=lambda inst: len(inst.input_ids))  # as heldout_batches: similar lengths together
    out, start = [], 0
    for size in sizes:
        out.append(data.collate(instances[start:start + size], 32, tokenizer.pad_token_id))
        start += size
    return out


def log_softmax(x):
    x = x.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def test_evaluate_is_the_mean_over_every_masked_token_and_every_pair(tmp_path):
    tokenizer = tiny_tokenizer(tmp_path)
    model = micro_model(len(VOCAB), seed=2, dtype=np.float64)
    batches = heldout_like_batches(tokenizer)
    masked = [int((b["labels"] != -100).sum()) for b in batches]
    assert len(set(masked)) > 1  # the batches' weights differ, so a mean of means would not match
    model.train()
    figures = evaluate(model, batches)
    assert model.training  # evaluate puts the mode back
    model.eval()
    mlm_nll, mlm_ok, nsp_nll, nsp_ok = [], [], [], []
    for b in batches:
        out = model(b["input_ids"], b["token_type_ids"], b["attention_mask"])
        rows, cols = np.nonzero(b["labels"] != -100)
        logp = log_softmax(out["prediction_logits"][rows, cols])            # (M, V)
        target = b["labels"][rows, cols]
        mlm_nll += list(-logp[np.arange(len(target)), target])
        mlm_ok += list(logp.argmax(-1) == target)
        nsp_logp = log_softmax(out["seq_relationship_logits"])             # (B, 2)
        y = b["next_sentence_label"]
        nsp_nll += list(-nsp_logp[np.arange(len(y)), y])
        nsp_ok += list(nsp_logp.argmax(-1) == y)
    assert len(mlm_nll) == sum(masked) and len(nsp_nll) == 19
    # float64 model: the two computations differ by rounding only (sums of ~100 terms)
    assert figures["heldout_mlm_loss"] == pytest.approx(np.mean(mlm_nll), rel=1e-12)
    assert figures["heldout_nsp_loss"] == pytest.approx(np.mean(nsp_nll), rel=1e-12)
    assert figures["heldout_mlm_acc"] == np.mean(mlm_ok)
    assert figures["heldout_nsp_acc"] == np.mean(nsp_ok)
    # a mean over batches would be a different figure here
    per_batch = np.cumsum([0] + masked)
    batch_means = [np.mean(mlm_nll[per_batch[i]:per_batch[i + 1]]) for i in range(len(batches))]
    assert abs(np.mean(batch_means) - np.mean(mlm_nll)) > 1e-6


def test_pretrain_records_evaluate_of_its_own_weights(tmp_path, corpus):
    # the last record's held-out figures are those of the saved checkpoint on the run's
    # own held-out batches: rebuilt here from the run's settings, as pretrain builds them
    from numpy_bert import train

    pretrain(tmp_path / "run", corpus=str(corpus), preset="micro", steps=6, quiet=True)
    last = read_metrics(tmp_path / "run" / "metrics.jsonl")[-1]
    model = BertForPreTraining.from_pretrained(tmp_path / "run" / "checkpoint")
    tokenizer = BertTokenizer.from_pretrained(tmp_path / "run" / "checkpoint")
    settings = train.make_settings("micro", steps=6)
    documents = train.load_documents(str(corpus))
    train_docs, heldout = train.split_documents(documents, settings["heldout_fraction"], settings["seed"])
    _, batches = train.prepare_data(train_docs, heldout, tokenizer, settings, lambda *a: None)
    figures = evaluate(model, batches)
    for key, value in figures.items():
        # float32 model, same weights and batches: only the threads' rounding can differ
        assert last[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
