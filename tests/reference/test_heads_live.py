"""The task heads against transformers and torch autograd, live (the reference suite).

For every head (and every problem_type of sequence classification), on a random tiny
config with odd sizes and on the real all-MiniLM-L6-v2 encoder:

- numpy_bert's save_pretrained output loads in transformers' AutoModelFor... with no
  missing, unexpected or mismatched keys;
- the logits equal transformers' within 1e-10 in float64 and 2e-5 in float32;
- loss_and_grads equals torch autograd's loss and every parameter's gradient within 1e-9
  in float64 (dropout off), with -100 token labels and QA positions outside the sequence;
- a checkpoint written by transformers with a head loads into numpy_bert as it is, and
  one without the head (BertModel, BertForPreTraining) reports the keys transformers does.
"""

import warnings

import numpy as np
import pytest
import torch
import transformers

import numpy_bert
from numpy_bert import BertConfig
from tests.test_heads import cannot_learn

from .compare import max_diff

TINY = dict(vocab_size=99, hidden_size=30, num_hidden_layers=2, num_attention_heads=3,
            intermediate_size=37, max_position_embeddings=20, type_vocab_size=2, hidden_act="gelu")
B, T, C = 5, 7, 3
LOGIT_TOL = {np.float64: 1e-10, np.float32: 2e-5}
GRAD_TOL = 1e-9
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}
AUTO = {
    "BertForSequenceClassification": transformers.AutoModelForSequenceClassification,
    "BertForTokenClassification": transformers.AutoModelForTokenClassification,
    "BertForQuestionAnswering": transformers.AutoModelForQuestionAnswering,
    "BertForMaskedLM": transformers.AutoModelForMaskedLM,
    "BertForNextSentencePrediction": transformers.AutoModelForNextSentencePrediction,
    "BertForMultipleChoice": transformers.AutoModelForMultipleChoice,
}


def inputs_for(name, vocab_size, rng):
    """(B, T) ids with a padded row and both segments; (B, C, T) for multiple choice."""
    shape = (B, C, T) if name == "BertForMultipleChoice" else (B, T)
    ids = rng.integers(1, vocab_size, size=shape)
    types = np.zeros(shape, np.int64)
    types[..., 4:] = 1
    mask = np.ones(shape, np.int64)
    mask[1, ..., 5:] = 0
    ids[mask == 0] = 0
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}


def targets_for(case, inputs, vocab_size, rng):
    """The labels of each case, as HF's forward takes them."""
    mask = inputs["attention_mask"]
    if case == "single_label":
        return {"labels": rng.integers(0, 3, size=B)}
    if case == "multi_label":
        return {"labels": rng.integers(0, 2, size=(B, 3)).astype(np.float64)}
    if case == "regression":
        return {"labels": rng.standard_normal(B)}
    if case == "regression_2":
        return {"labels": rng.standard_normal((B, 2))}
    if case == "token":
        labels = rng.integers(0, 5, size=(B, T))
        labels[mask == 0] = -100
        labels[:, 0] = -100                       # [CLS]
        labels[2, 3] = -100                       # a word's continuation piece
        return {"labels": labels}
    if case == "qa":                              # 9 and 30 > T, -2 < 0: clamped as HF clamps
        return {"start_positions": np.array([0, 3, 9, -2, 6]), "end_positions": np.array([1, 30, 5, 2, 7])}
    if case == "mlm":
        labels = np.full((B, T), -100)
        labels[0, 2], labels[3, 1], labels[4, 6], labels[1, 4] = 5, vocab_size - 1, 0, 17
        return {"labels": labels}
    if case == "nsp":
        return {"labels": np.array([0, 1, 1, 0, 1])}
    if case == "choice":
        return {"labels": np.array([0, 2, 1, 1, 0])}
    raise AssertionError(case)


# case -> (class name, config changes)
CASES = {
    "single_label": ("BertForSequenceClassification", {"num_labels": 3}),
    "multi_label": ("BertForSequenceClassification", {"num_labels": 3}),
    "regression": ("BertForSequenceClassification", {"num_labels": 1}),
    "regression_2": ("BertForSequenceClassification", {"num_labels": 2, "problem_type": "regression"}),
    "token": ("BertForTokenClassification", {"num_labels": 5}),
    "qa": ("BertForQuestionAnswering", {}),
    "mlm": ("BertForMaskedLM", {}),
    "nsp": ("BertForNextSentencePrediction", {}),
    "choice": ("BertForMultipleChoice", {}),
}


def torch_args(arrays):
    return {k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()}


def hf_load(name, path, dtype):
    """transformers' Auto class for ``name`` on ``path``: no key may be missing, unexpected
    or mismatched; eager attention, eval mode (dropout off)."""
    model, info = AUTO[name].from_pretrained(path, dtype=TORCH_DTYPE[dtype], attn_implementation="eager",
                                             output_loading_info=True)
    assert type(model).__name__ == name
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    return model.eval()


def structurally_zero(name, model):
    """Gradients that are 0 in exact arithmetic (both sides hold roundoff): the key bias,
    QA's qa_outputs.bias and last LayerNorm bias, multiple choice's classifier.bias
    (tests/test_heads.py cannot_learn says why)."""
    return cannot_learn(model, name)


def compare_with_transformers(ours64, path, inputs, targets):
    """ours64 (float64, saved at ``path``) against transformers: logits in float64 and
    float32, loss and every gradient in float64."""
    name = type(ours64).__name__
    for dtype in (np.float64, np.float32):
        ours = ours64 if dtype == np.float64 else type(ours64).from_pretrained(path, dtype=np.float32)
        hf = hf_load(name, path, dtype)
        with torch.no_grad():
            ref = hf(**torch_args(inputs))
        out = ours(**inputs)
        for key in ("start_logits", "end_logits") if name == "BertForQuestionAnswering" else ("logits",):
            want = ref[key].numpy()
            assert out[key].shape == want.shape and out[key].dtype == dtype, key
            tol = LOGIT_TOL[dtype] * max(1.0, float(np.max(np.abs(want))))
            assert max_diff(out[key], want) <= tol, f"{dtype.__name__} {key}: {max_diff(out[key], want):.2e}"

    hf = hf_load(name, path, np.float64)
    ref = hf(**torch_args(inputs), **torch_args(targets))
    ref.loss.backward()
    loss, grads = ours64.loss_and_grads(**inputs, **targets)
    assert abs(loss - ref.loss.item()) <= GRAD_TOL * max(1.0, abs(ref.loss.item())), (loss, ref.loss.item())
    hf_grads = {n: p.grad.numpy() for n, p in hf.named_parameters()}
    assert set(grads) == set(hf_grads)
    scale = max(np.max(np.abs(g)) for g in hf_grads.values())
    errors = {}
    for n, g_ref in hf_grads.items():
        denom = scale if structurally_zero(n, ours64) else np.max(np.abs(g_ref))
        errors[n] = max_diff(grads[n], g_ref) / denom
    worst = max(errors, key=errors.get)
    assert errors[worst] <= GRAD_TOL, f"worst gradient {worst}: relative error {errors[worst]:.2e}"
    return hf.config


def random_ours(name, config, seed):
    """numpy_bert's model, every tensor moved off HF's init (biases 0, LayerNorm 1)."""
    model = getattr(numpy_bert, name)(config, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    for p in model.params.values():
        p += (0.1 if p.ndim == 1 else 0.02) * rng.standard_normal(p.shape)
    return model


@pytest.mark.parametrize("case", list(CASES))
def test_head_on_a_tiny_config_equals_transformers(case, tmp_path):
    name, changes = CASES[case]
    rng = np.random.default_rng(len(case))
    ours = random_ours(name, BertConfig(**TINY, **changes), seed=3)
    ours.save_pretrained(tmp_path)
    inputs = inputs_for(name, TINY["vocab_size"], rng)
    targets = targets_for(case, inputs, TINY["vocab_size"], rng)
    hf_config = compare_with_transformers(ours, tmp_path, inputs, targets)
    if name == "BertForSequenceClassification":   # chosen on both sides from the labels
        assert ours.config.problem_type == hf_config.problem_type == {
            "single_label": "single_label_classification", "multi_label": "multi_label_classification"
        }.get(case, "regression")


@pytest.mark.parametrize("case", ["single_label", "multi_label", "regression", "token", "qa", "mlm", "nsp",
                                  "choice"])
def test_head_on_minilm_equals_transformers(case, minilm_path, tmp_path):
    """The real encoder, the head initialised by numpy_bert's from_pretrained."""
    name, changes = CASES[case]
    with pytest.warns(UserWarning, match="newly initialized"):
        ours = getattr(numpy_bert, name).from_pretrained(minilm_path, dtype=np.float64, seed=5, **changes)
    _, hf_info = AUTO[name].from_pretrained(minilm_path, output_loading_info=True, **changes)
    assert set(ours.loading_info["missing_keys"]) == hf_names(hf_info["missing_keys"])
    ours.save_pretrained(tmp_path)
    rng = np.random.default_rng(11)
    inputs = inputs_for(name, ours.config.vocab_size, rng)
    compare_with_transformers(ours, tmp_path, inputs, targets_for(case, inputs, ours.config.vocab_size, rng))


@pytest.mark.parametrize("name", list(AUTO))
def test_checkpoint_written_by_transformers_with_its_head_loads(name, tmp_path):
    config = transformers.BertConfig(**TINY, num_labels=4 if name != "BertForQuestionAnswering" else 2,
                                     id2label=None if name == "BertForQuestionAnswering" else
                                     {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC"})
    torch.manual_seed(0)
    hf = getattr(transformers, name)(config).to(torch.float64).eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    hf.save_pretrained(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")             # nothing may be initialised
        ours = getattr(numpy_bert, name).from_pretrained(tmp_path, dtype=np.float64)
    assert ours.loading_info == {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []}
    assert ours.config.id2label == config.id2label
    hf_params = dict(hf.named_parameters())
    assert list(ours.params) == list(hf_params)
    for n, p in hf_params.items():
        np.testing.assert_array_equal(ours.params[n], p.detach().numpy(), err_msg=n)
    inputs = inputs_for(name, TINY["vocab_size"], np.random.default_rng(2))
    with torch.no_grad():
        ref = hf(**torch_args(inputs))
    out = ours(**inputs)
    for key in out:
        assert max_diff(out[key], ref[key].numpy()) <= 1e-10, key


@pytest.mark.parametrize("source", ["BertModel", "BertForPreTraining"])
@pytest.mark.parametrize("name", list(AUTO))
def test_headless_checkpoints_report_the_keys_transformers_reports(name, source, tmp_path):
    """A checkpoint of another architecture: the same missing keys as transformers (the
    new head); unexpected keys as transformers' too, apart from those it drops silently."""
    torch.manual_seed(0)
    getattr(transformers, source)(transformers.BertConfig(**TINY)).save_pretrained(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = getattr(numpy_bert, name).from_pretrained(tmp_path)
        _, info = AUTO[name].from_pretrained(tmp_path, output_loading_info=True)
    assert set(ours.loading_info["missing_keys"]) == hf_names(info["missing_keys"])
    assert set(info["unexpected_keys"]) <= set(ours.loading_info["unexpected_keys"])


def hf_names(keys):
    """transformers' key names without the tied decoder's (numpy_bert has only the tensors
    it shares: the word embeddings and cls.predictions.bias)."""
    return set(keys) - {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}


def test_ignore_mismatched_sizes_as_transformers(tmp_path):
    numpy_bert.BertForSequenceClassification(BertConfig(**TINY, num_labels=2)).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="ignore_mismatched_sizes=True"):
        numpy_bert.BertForSequenceClassification.from_pretrained(tmp_path, num_labels=3)
    with pytest.warns(UserWarning, match="shapes did not match"):
        ours = numpy_bert.BertForSequenceClassification.from_pretrained(tmp_path, num_labels=3,
                                                                        ignore_mismatched_sizes=True)
    _, info = transformers.AutoModelForSequenceClassification.from_pretrained(
        tmp_path, num_labels=3, ignore_mismatched_sizes=True, output_loading_info=True)
    assert {k for k, *_ in ours.loading_info["mismatched_keys"]} == {k for k, *_ in info["mismatched_keys"]}


# ----------------------------------------------------------------------------- optimizer trajectory

SENTENCES = [
    ("what a wonderful day at the beach", 2), ("the service was terrible and slow", 0),
    ("the train leaves at nine", 1), ("i love this little cafe", 2),
    ("my phone broke again today", 0), ("the meeting is on tuesday", 1),
    ("best concert i have ever seen", 2), ("the flight was cancelled twice", 0),
    ("it rained in the afternoon", 1), ("this soup is awful", 0),
    ("thanks for the lovely gift", 2), ("the shop opens at ten", 1),
]


def test_adamw_trajectory_equals_torch_on_minilm(minilm_path, tmp_path):
    """20 AdamW steps of 3-class sequence classification on MiniLM in float64, dropout off,
    the same batches: numpy_bert's optim.AdamW + optim.learning_rate (warmup, linear decay)
    + optim.clip_grad_norm(1.0) against torch.optim.AdamW + get_linear_schedule_with_warmup +
    torch.nn.utils.clip_grad_norm_(1.0), with HF Trainer's parameter groups (no decay for
    biases and LayerNorm): every loss within 1e-9. (optim.clip_by_global_norm, google's
    clipping without torch's 1e-6, moves these losses by ~2e-8.)"""
    from numpy_bert import BertTokenizer, optim

    steps, warmup, peak_lr, weight_decay = 20, 4, 1e-4, 0.01
    with pytest.warns(UserWarning, match="newly initialized"):
        ours = numpy_bert.BertForSequenceClassification.from_pretrained(
            minilm_path, dtype=np.float64, seed=0, num_labels=3,
            id2label={0: "negative", 1: "neutral", 2: "positive"})
    ours.save_pretrained(tmp_path)                       # the head numpy_bert drew, for torch too
    hf = hf_load("BertForSequenceClassification", tmp_path, np.float64)   # eval: dropout off
    tokenizer = BertTokenizer.from_pretrained(minilm_path)
    batches = []
    for i in range(0, len(SENTENCES), 4):
        texts, labels = zip(*SENTENCES[i:i + 4])
        enc = tokenizer(list(texts), padding=True, return_tensors="np")
        batches.append(({k: enc[k] for k in ("input_ids", "token_type_ids", "attention_mask")},
                        np.array(labels)))

    # numpy_bert's weight-decay exclusions are HF Trainer's, and eps is torch's default
    opt = optim.AdamW(ours.params, weight_decay=weight_decay)
    decay = transformers.Trainer.get_decay_parameter_names(None, hf)
    assert sorted(decay) == sorted(name for name, d in opt.decay.items() if d)
    assert opt.eps == 1e-8 and (opt.beta1, opt.beta2) == (0.9, 0.999)
    named = dict(hf.named_parameters())
    groups = [{"params": [named[n] for n in named if n in decay], "weight_decay": weight_decay},
              {"params": [named[n] for n in named if n not in decay], "weight_decay": 0.0}]
    torch_opt = torch.optim.AdamW(groups, lr=peak_lr, betas=(0.9, 0.999), eps=1e-8)
    schedule = transformers.get_linear_schedule_with_warmup(torch_opt, warmup, steps)

    ours_losses, torch_losses = [], []
    for step in range(steps):
        inputs, labels = batches[step % len(batches)]
        loss, grads = ours.loss_and_grads(**inputs, labels=labels)
        norm = optim.clip_grad_norm(grads, 1.0)
        opt.step(grads, lr=optim.learning_rate(step, peak_lr, warmup, steps))
        ours_losses.append(loss)

        torch_opt.zero_grad()
        out = hf(**torch_args(inputs), labels=torch.from_numpy(labels))
        out.loss.backward()
        torch_norm = torch.nn.utils.clip_grad_norm_(hf.parameters(), 1.0).item()
        assert abs(norm - torch_norm) <= 1e-12 * torch_norm
        torch_opt.step()
        schedule.step()
        torch_losses.append(out.loss.item())
    diffs = np.abs(np.array(ours_losses) - np.array(torch_losses))
    assert np.max(diffs) <= 1e-9, f"largest loss difference {np.max(diffs):.2e} at step {np.argmax(diffs)}"
    assert ours_losses[-1] < 0.75 * ours_losses[0]       # it learns the 12 sentences
    for name, p in named.items():                        # and the weights went the same way
        np.testing.assert_allclose(ours.params[name], p.detach().numpy(), rtol=0, atol=1e-9, err_msg=name)
