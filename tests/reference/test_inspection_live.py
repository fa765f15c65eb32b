"""inputs_embeds, head_mask and the input gradients against transformers, live (float64).

transformers 5 keeps ``inputs_embeds`` but dropped ``head_mask``; version 4's eager
attention applied it after the dropout, before the product with the values::

    attn_weights = nn.functional.dropout(softmax(scores), p, training)
    if head_mask is not None:
        attn_weights = attn_weights * head_mask          # (1, NH, 1, 1) for this layer
    attn_output = torch.matmul(attn_weights, value_layer)

and returned those weights as its ``attentions``. Here that eager attention, with the
line above, is registered as an attention implementation of transformers 5 (its
AttentionInterface), so the rest of the model is HF's own; the head mask is a leaf
tensor, and autograd gives its gradient as well as ``inputs_embeds.grad``.
"""

import numpy as np
import pytest
import torch
import transformers
import transformers.masking_utils

from numpy_bert import BertConfig
from numpy_bert.model import BertForPreTraining, BertForSequenceClassification

from .compare import max_diff, pretraining_output_diffs
from .make_model_fixtures import CASES, build_model, make_inputs

FORWARD_TOL = 1e-10
GRAD_TOL = 1e-9
HEAD_MASKED = "numpy_bert_head_mask_eager"


def head_masked_eager(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """transformers' eager_attention_forward with version 4's head mask line."""
    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = torch.nn.functional.softmax(attn_weights, dim=-1)
    attn_weights = torch.nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    head_mask = HEAD_MASKS.get(module)
    if head_mask is not None:
        attn_weights = attn_weights * head_mask[None, :, None, None]
    attn_output = torch.matmul(attn_weights, value).transpose(1, 2).contiguous()
    return attn_output, attn_weights


HEAD_MASKS = {}    # BertSelfAttention module -> its layer's head mask (NH,)
transformers.AttentionInterface.register(HEAD_MASKED, head_masked_eager)
# and eager's additive float mask (an implementation it does not know gets sdpa's boolean one)
transformers.masking_utils.AttentionMaskInterface.register(HEAD_MASKED, transformers.masking_utils.eager_mask)


def with_head_mask(hf, head_mask):
    """Route hf's attention through head_masked_eager with row l of head_mask in layer l."""
    hf.config._attn_implementation = HEAD_MASKED
    HEAD_MASKS.clear()
    for l, layer in enumerate(hf.bert.encoder.layer):
        HEAD_MASKS[layer.attention.self] = head_mask[l] if head_mask.dim() == 2 else head_mask


def ours_from(hf, cls, config_kwargs, **extra):
    model = cls(BertConfig(**config_kwargs, **extra), dtype=np.float64)
    model.params = {name: p.detach().numpy().copy() for name, p in hf.named_parameters()}
    return model


def relative(a, ref):
    ref = np.asarray(ref, np.float64)
    return max_diff(a, ref) / float(np.max(np.abs(ref)))


@pytest.fixture(autouse=True)
def _forget_head_masks():
    yield
    HEAD_MASKS.clear()


@pytest.mark.parametrize("head_mask_shape", ["none", "per_head", "per_layer"])
@pytest.mark.parametrize("case", list(CASES))
def test_inputs_embeds_and_head_mask_forward_and_gradients(case, head_mask_shape):
    config_kwargs = CASES[case]
    L, NH, H = (config_kwargs[k] for k in ("num_hidden_layers", "num_attention_heads", "hidden_size"))
    inputs = make_inputs(config_kwargs, np.random.default_rng(11))
    hf = build_model(config_kwargs, 11)
    ours = ours_from(hf, BertForPreTraining, config_kwargs)
    rng = np.random.default_rng(12)
    # vectors that are not rows of the word table: the word lookup plus noise
    word = ours.params["bert.embeddings.word_embeddings.weight"]
    embeds = word[inputs["input_ids"]] + 0.05 * rng.standard_normal(inputs["input_ids"].shape + (H,))
    head_mask = {"none": None, "per_head": rng.uniform(0.0, 1.5, NH),
                 "per_layer": rng.uniform(0.0, 1.5, (L, NH))}[head_mask_shape]
    if head_mask is not None:
        head_mask.reshape(-1)[0] = 0.0                               # one head off
    t = {k: torch.from_numpy(inputs[k]) for k in inputs if k != "input_ids"}
    t_embeds = torch.from_numpy(embeds.copy()).requires_grad_(True)
    t_head_mask = None
    if head_mask is not None:
        t_head_mask = torch.from_numpy(head_mask.copy()).requires_grad_(True)
        with_head_mask(hf, t_head_mask)
    ref = hf(inputs_embeds=t_embeds, **t, output_hidden_states=True, output_attentions=True)
    ref.loss.backward()

    kwargs = dict(token_type_ids=inputs["token_type_ids"], attention_mask=inputs["attention_mask"],
                  inputs_embeds=embeds, head_mask=head_mask)
    out = ours(**kwargs, output_hidden_states=True, output_attentions=True)
    real = inputs["attention_mask"].astype(bool)
    diffs = pretraining_output_diffs(out, ref, real)
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= FORWARD_TOL, f"worst {worst}: {diffs[worst]:.2e}"

    loss, grads = ours.loss_and_grads(**kwargs, labels=inputs["labels"],
                                      next_sentence_label=inputs["next_sentence_label"],
                                      return_input_grads=True)
    assert abs(loss - ref.loss.item()) <= FORWARD_TOL * max(1.0, abs(ref.loss.item()))
    errors = {"inputs_embeds": relative(grads["inputs_embeds"], t_embeds.grad)}
    if head_mask is not None:
        errors["head_mask"] = relative(grads["head_mask"], t_head_mask.grad)
    for name, p in hf.named_parameters():
        if p.grad is not None and not name.endswith("attention.self.key.bias"):   # that one is 0
            errors[name] = relative(grads[name], p.grad)
    worst = max(errors, key=errors.get)
    assert errors[worst] <= GRAD_TOL, f"worst {worst}: relative error {errors[worst]:.2e}"


def test_classifier_input_gradients():
    config_kwargs = CASES["gelu"]
    inputs = make_inputs(config_kwargs, np.random.default_rng(21))
    torch.manual_seed(21)
    hf = transformers.BertForSequenceClassification(transformers.BertConfig(
        **config_kwargs, num_labels=3, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        attn_implementation="eager")).double().eval()
    ours = ours_from(hf, BertForSequenceClassification, config_kwargs, num_labels=3)
    labels = np.array([2, 0, 1])
    ids = torch.from_numpy(inputs["input_ids"])
    t_embeds = hf.bert.embeddings.word_embeddings(ids).detach().requires_grad_(True)
    ref = hf(inputs_embeds=t_embeds, token_type_ids=torch.from_numpy(inputs["token_type_ids"]),
             attention_mask=torch.from_numpy(inputs["attention_mask"]), labels=torch.from_numpy(labels))
    ref.loss.backward()
    loss, grads = ours.loss_and_grads(inputs["input_ids"], inputs["token_type_ids"], inputs["attention_mask"],
                                      labels=labels, return_input_grads=True)
    assert abs(loss - ref.loss.item()) <= FORWARD_TOL * max(1.0, abs(ref.loss.item()))
    # with input_ids, "inputs_embeds" is the gradient at the looked-up rows word[input_ids]
    assert relative(grads["inputs_embeds"], t_embeds.grad) <= GRAD_TOL
