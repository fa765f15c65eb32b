"""numpy_bert's task pipelines against transformers, live, on MiniLM with fresh random heads.

Each head is drawn in torch (another seed than the committed fixtures'), the whole
model saved in HF layout with MiniLM's tokenizer files, and loaded by both libraries
from that directory: text-classification and token-classification are compared with
transformers 5's pipelines on new inputs. transformers 5 has no question-answering
pipeline; ``hf_question_answering`` below rebuilds transformers 4.57's from the pieces
5 still ships (the fast tokenizer's windows and its ``Encoding.token_to_word`` /
``word_to_chars``, and ``select_starts_ends``, the span search, now in
transformers.pipelines.document_question_answering), and is first checked against
the committed fixture that 4.57's real pipeline wrote.
"""

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from transformers.pipelines.document_question_answering import select_starts_ends

from numpy_bert import pipeline
from numpy_bert.pipelines import QuestionAnsweringPipeline
from tests.test_task_pipelines import TASKS, assert_same_output, call, head_config, load_cases

SEED = 77
MINILM_FILES = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json")


@pytest.fixture(scope="module")
def minilm(minilm_path):
    transformers.logging.set_verbosity_error()
    return minilm_path


def save_with_random_head(minilm, directory, cls_name, std=0.3, seed=SEED, **fields):
    """MiniLM + a random head (normal(0, std) weights, normal(0, 0.1) bias), saved in HF layout."""
    model = getattr(transformers, cls_name).from_pretrained(minilm, attn_implementation="eager", **fields).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith(("classifier.", "qa_outputs.")):
                p.copy_(torch.randn(p.shape, generator=generator) * (std if name.endswith("weight") else 0.1))
    model.save_pretrained(directory)
    for name in MINILM_FILES:
        shutil.copyfile(Path(minilm) / name, Path(directory) / name)
    return model


def ours(task, directory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pipeline(task, model=str(directory))


# --------------------------------------------------------------------------- text classification

TEXTS = ["What a wonderful, sunny day in Reykjavik!", "Nothing works and nobody answers the phone.",
         "Ünïcode — accents, and ☃ snowmen.", "ok"]
TEXT_CLASSIFICATION_CALLS = [
    (TEXTS[0], {}), (TEXTS, {}), (TEXTS[1], {"top_k": None}), (TEXTS, {"top_k": 2}),
    (TEXTS[2], {"function_to_apply": "sigmoid", "top_k": None}), (TEXTS[3], {"function_to_apply": "none"}),
    ({"text": "Is it late?", "text_pair": "Yes, it is past midnight."}, {}),
    ([{"text": "A", "text_pair": "B"}, {"text": TEXTS[0], "text_pair": TEXTS[1]}], {"top_k": None}),
]


@pytest.mark.parametrize("fields", [
    {"num_labels": 4, "id2label": {0: "anger", 1: "joy", 2: "fear", 3: "calm"},
     "label2id": {"anger": 0, "joy": 1, "fear": 2, "calm": 3}},
    {"num_labels": 2, "problem_type": "multi_label_classification"},
    {"num_labels": 1, "problem_type": "regression"},
], ids=["four_labels", "multi_label", "regression"])
def test_text_classification_live(minilm, tmp_path, fields):
    save_with_random_head(minilm, tmp_path, "BertForSequenceClassification", **fields)
    theirs = transformers.pipeline("text-classification", model=str(tmp_path), device="cpu")
    mine = ours("sentiment-analysis", tmp_path)
    for inputs, kwargs in TEXT_CLASSIFICATION_CALLS:
        assert_same_output(mine(inputs, **kwargs), json.loads(json.dumps(theirs(inputs, **kwargs))), 1e-5,
                           f"{inputs!r} {kwargs}")


# --------------------------------------------------------------------------- token classification

NER_TEXTS = ["Jean-Baptiste Poquelin lived in Montréal, Québec and Île-de-France.",
             "Dr. Tchaikovsky's piano (1875) sounded like Ouagadougou's ☃ drums, said O'Connor."]


@pytest.mark.parametrize("strategy", ["none", "simple", "first", "average", "max"])
def test_token_classification_live(minilm, tmp_path, strategy):
    labels = ["O", "B-ORG", "I-ORG", "B-PER", "I-PER", "MISC"]
    save_with_random_head(minilm, tmp_path, "BertForTokenClassification", std=0.4, num_labels=len(labels),
                          id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})
    theirs = transformers.pipeline("token-classification", model=str(tmp_path), device="cpu")
    mine = ours("ner", tmp_path)
    for inputs, kwargs in [(NER_TEXTS[0], {}), (NER_TEXTS, {"ignore_labels": []}),
                           (["Some", "pre-split", "Schwarzenegger", "words"], {"is_split_into_words": True})]:
        kwargs = dict(kwargs, aggregation_strategy=strategy)
        want = json.loads(json.dumps(theirs(inputs, **kwargs), default=float))
        assert_same_output(mine(inputs, **kwargs), want, 1e-5, f"{inputs!r} {kwargs}")


# --------------------------------------------------------------------------- question answering


def hf_question_answering(model, tokenizer, question, context, top_k=1, max_answer_len=15,
                          handle_impossible_answer=False, max_seq_len=None, doc_stride=None, **ignored):
    """transformers 4.57's QuestionAnsweringPipeline (fast tokenizer, question first), for one question."""
    max_seq_len = max_seq_len or min(tokenizer.model_max_length, 384)
    doc_stride = min(max_seq_len // 2, 128) if doc_stride is None else doc_stride
    encoded = tokenizer(question, context, truncation="only_second", max_length=max_seq_len, stride=doc_stride,
                        return_token_type_ids=True, return_overflowing_tokens=True, return_offsets_mapping=True,
                        return_special_tokens_mask=True)
    answers, min_null_score = [], 1000000
    for w, ids in enumerate(encoded["input_ids"]):
        p_mask = [s != 1 for s in encoded.sequence_ids(w)]
        for i in np.nonzero(np.array(ids) == tokenizer.cls_token_id)[0]:
            p_mask[i] = 0
        with torch.no_grad():
            out = model(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([encoded["token_type_ids"][w]]),
                        attention_mask=torch.tensor([encoded["attention_mask"][w]]))
        starts, ends, scores, min_null_score = select_starts_ends(
            out.start_logits.numpy(), out.end_logits.numpy(), np.array([p_mask], dtype=np.int64),
            np.array([encoded["attention_mask"][w]]), min_null_score, top_k * 2 + 10, handle_impossible_answer,
            max_answer_len)
        enc = encoded.encodings[w]
        for s, e, score in zip(starts, ends, scores):
            try:
                a = enc.word_to_chars(enc.token_to_word(s), sequence_index=1)[0]
                b = enc.word_to_chars(enc.token_to_word(e), sequence_index=1)[1]
            except Exception:
                a, b = enc.offsets[s][0], enc.offsets[e][1]
            same = next((x for x in answers if x["answer"].lower() == context[a:b].lower()), None)
            if same:
                same["score"] += score.item()
            else:
                answers.append({"score": score.item(), "start": a, "end": b, "answer": context[a:b]})
    if handle_impossible_answer:
        answers.append({"score": min_null_score, "start": 0, "end": 0, "answer": ""})
    answers = sorted(answers, key=lambda x: x["score"], reverse=True)[:top_k]
    return answers[0] if len(answers) == 1 else answers


def hf_qa_calls(model, tokenizer, case):
    """The committed case's call, one question at a time, through hf_question_answering."""
    pairs = QuestionAnsweringPipeline._examples(*(
        (case["inputs"], None, None) if isinstance(case["inputs"], list)
        else ((), case["inputs"]["question"], case["inputs"]["context"])))
    results = [hf_question_answering(model, tokenizer, q, c, **case["kwargs"]) for q, c in pairs]
    return results[0] if len(results) == 1 else results


@pytest.mark.parametrize("head", ["qa", "qa_null"])
def test_rebuilt_hf_question_answering_equals_the_transformers_4_57_fixture(minilm, head):
    model = transformers.BertForQuestionAnswering.from_pretrained(minilm, attn_implementation="eager").eval()
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(TASKS / "heads" / f"{head}.safetensors")), strict=False)
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm)
    cases = [c for c in load_cases("question_answering") if c["head"] == head]
    assert cases and head_config(head)["num_labels"] == 2
    for case in cases:
        assert_same_output(hf_qa_calls(model, tokenizer, case), case["output"], 1e-6, case["name"])


QA_CONTEXT = " ".join(
    f"In {1700 + 13 * i} the village of Nørre-{name} built its {['first', 'second', 'third'][i % 3]} "
    f"bridge over the river Åen, which took {i + 2} years and cost {100 * (i + 1)} silver coins."
    for i, name in enumerate(["Alslev", "Broby", "Hammel", "Kjellerup", "Lemvig", "Nakskov", "Ribe", "Skive",
                              "Tønder", "Vejen", "Viborg", "Aabenraa", "Brande", "Dronninglund", "Grindsted"]))


@pytest.mark.parametrize("kwargs", [
    {}, {"top_k": 5}, {"top_k": 3, "max_answer_len": 4}, {"handle_impossible_answer": True, "top_k": 2},
    {"max_seq_len": 96, "doc_stride": 32, "top_k": 4}, {"max_seq_len": 40, "doc_stride": 10, "top_k": 3},
], ids=["default", "top_k", "max_answer_len", "impossible", "windows", "small_windows"])
def test_question_answering_live(minilm, tmp_path_factory, kwargs):
    directory = tmp_path_factory.mktemp("qa")
    model = save_with_random_head(minilm, directory, "BertForQuestionAnswering", std=0.6)
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    mine = ours("question-answering", directory)
    for question in ["How long did the bridge of Nørre-Ribe take?", "What was built over the river?"]:
        want = hf_question_answering(model, tokenizer, question, QA_CONTEXT, **kwargs)
        got = mine(question=question, context=QA_CONTEXT, **kwargs)
        assert_same_output(got, json.loads(json.dumps(want)), 1e-5, f"{question!r} {kwargs}")


def test_question_answering_case_from_fixture_runs_through_call(minilm, tmp_path):
    """The committed QA calls, as call() spells them, through numpy_bert loaded from a saved directory."""
    save_with_random_head(minilm, tmp_path, "BertForQuestionAnswering")
    model = transformers.BertForQuestionAnswering.from_pretrained(tmp_path).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path)
    mine = ours("question-answering", tmp_path)
    for case in load_cases("question_answering")[:4]:
        assert_same_output(call(mine, case), json.loads(json.dumps(hf_qa_calls(model, tokenizer, case))), 1e-5,
                           case["name"])
