"""Tests of numpy_bert.finetune's data side: readers, bad input, labels, batches.

Every bad-input error must name the file, the line and the column; the CLI exits 2.
"""

import json

import numpy as np
import pytest

from numpy_bert import cli
from numpy_bert.finetune import (DataError, collate, epoch_order, iterate_batches, label_maps, label_to_id,
                                 read_examples, read_records, steps_per_epoch)


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(path, rows):
    return write(path, "".join(json.dumps(r) + "\n" for r in rows))


# ---------------------------------------------------------------------------------------- readers

def test_csv_and_jsonl_give_the_same_classification_examples(tmp_path):
    csv_file = write(tmp_path / "a.csv", 'text,label\n"Good, very good",pos\nbad,neg\n')
    jsonl_file = jsonl(tmp_path / "a.jsonl", [{"text": "Good, very good", "label": "pos"},
                                              {"text": "bad", "label": "neg"}])
    a, b = read_examples(csv_file, "text-classification"), read_examples(jsonl_file, "text-classification")
    strip = [[{k: v for k, v in ex.items() if k != "line"} for ex in exs] for exs in (a, b)]
    assert strip[0] == strip[1] == [{"text": "Good, very good", "text_pair": None, "label": "pos"},
                                    {"text": "bad", "text_pair": None, "label": "neg"}]
    assert [ex["line"] for ex in a] == [2, 3] and [ex["line"] for ex in b] == [1, 2]


def test_format_is_sniffed_without_a_known_extension(tmp_path):
    as_jsonl = jsonl(tmp_path / "data.txt", [{"text": "x", "label": 1}])
    as_csv = write(tmp_path / "data.dat", "text,label\nx,1\n")
    assert read_records(as_jsonl)[0] == "jsonl" and read_records(as_csv)[0] == "csv"


def test_csv_line_numbers_count_multiline_fields(tmp_path):
    f = write(tmp_path / "a.csv", 'text,label\n"two\nlines",0\nthird,\n')
    with pytest.raises(DataError, match=r"a\.csv, line 4, column 'label': empty"):
        read_examples(f, "text-classification")


def test_text_pair_is_optional_and_read(tmp_path):
    f = jsonl(tmp_path / "p.jsonl", [{"text": "a", "text_pair": "b", "label": 0}, {"text": "c", "label": 1}])
    exs = read_examples(f, "text-classification")
    assert [ex["text_pair"] for ex in exs] == ["b", None]


def test_token_lists_in_csv_as_json_or_spaces(tmp_path):
    f = write(tmp_path / "t.csv", 'tokens,tags\n"[""EU"", ""rejects""]","[""B-ORG"", ""O""]"\nPeter Blackburn,B-PER I-PER\n')
    exs = read_examples(f, "token-classification")
    assert [(ex["tokens"], ex["tags"]) for ex in exs] == [(["EU", "rejects"], ["B-ORG", "O"]),
                                                          (["Peter", "Blackburn"], ["B-PER", "I-PER"])]


def test_qa_answers_read_from_jsonl_and_csv(tmp_path):
    row = {"id": "q1", "question": "Who?", "context": "It was Ada Lovelace.",
           "answers": {"text": ["Ada Lovelace"], "answer_start": [7]}}
    a = read_examples(jsonl(tmp_path / "q.jsonl", [row]), "question-answering")
    csv_text = "id,question,context,answers\n" + ",".join(
        '"' + (json.dumps(v) if isinstance(v, dict) else v).replace('"', '""') + '"' for v in row.values()) + "\n"
    b = read_examples(write(tmp_path / "q.csv", csv_text), "question-answering")
    assert a[0]["answers"] == b[0]["answers"] == row["answers"]
    assert a[0]["id"] == "q1"


# ---------------------------------------------------------------------------------------- bad input

def test_missing_column_names_file_line_and_column(tmp_path):
    f = write(tmp_path / "m.csv", "sentence,label\nhello,0\n")
    with pytest.raises(DataError, match=r"m\.csv, line 1, column 'text': no column 'text'.*'sentence'"):
        read_examples(f, "text-classification")
    g = jsonl(tmp_path / "m.jsonl", [{"text": "a", "label": 0}, {"text": "b"}])
    with pytest.raises(DataError, match=r"m\.jsonl, line 2, column 'label': no column 'label'"):
        read_examples(g, "text-classification")


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file(tmp_path, content):
    f = write(tmp_path / "e.csv", content)
    with pytest.raises(DataError, match=r"e\.csv, line 1: the file is empty"):
        read_examples(f, "text-classification")


def test_header_only_file(tmp_path):
    with pytest.raises(DataError, match=r"h\.csv, line 1: no examples"):
        read_examples(write(tmp_path / "h.csv", "text,label\n"), "text-classification")


def test_bad_json_line(tmp_path):
    f = write(tmp_path / "b.jsonl", '{"text": "a", "label": 0}\n{"text": "b", label: 1}\n')
    with pytest.raises(DataError, match=r"b\.jsonl, line 2: not valid JSON"):
        read_examples(f, "text-classification")


def test_csv_row_with_too_many_fields(tmp_path):
    f = write(tmp_path / "c.csv", "text,label\nhello, world,0\n")
    with pytest.raises(DataError, match=r"c\.csv, line 2: 3 fields, but the header has 2; quote"):
        read_examples(f, "text-classification")


def test_tags_and_tokens_of_different_lengths(tmp_path):
    f = jsonl(tmp_path / "t.jsonl", [{"tokens": ["a", "b"], "tags": ["O", "O"]},
                                     {"tokens": ["a", "b", "c"], "tags": ["O", "O"]}])
    with pytest.raises(DataError, match=r"t\.jsonl, line 2, column 'tags': 2 tags for 3 tokens"):
        read_examples(f, "token-classification")


def test_qa_answer_not_at_answer_start(tmp_path):
    f = jsonl(tmp_path / "q.jsonl", [{"question": "Who?", "context": "It was Ada Lovelace.",
                                      "answers": {"text": ["Ada"], "answer_start": [6]}}])
    with pytest.raises(DataError, match=r"q\.jsonl, line 1, column 'answers': answer 0 'Ada' is not at "
                                        r"answer_start 6 .*' Ad'.*it occurs at 7"):
        read_examples(f, "question-answering")


def test_qa_answers_must_be_squad_shaped(tmp_path):
    f = jsonl(tmp_path / "q.jsonl", [{"question": "Who?", "context": "Ada.", "answers": "Ada"}])
    with pytest.raises(DataError, match=r"line 1, column 'answers': not valid JSON"):
        read_examples(f, "question-answering")
    g = jsonl(tmp_path / "r.jsonl", [{"question": "Who?", "context": "Ada.",
                                      "answers": {"text": ["Ada", "A"], "answer_start": [0]}}])
    with pytest.raises(DataError, match=r"line 1, column 'answers': 2 text\(s\) and 1 answer_start"):
        read_examples(g, "question-answering")


def test_label_outside_num_labels(tmp_path):
    id2label, label2id = label_maps([0, 1, 2, 1], {})
    assert id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    assert label_to_id("2", id2label, label2id, "e.csv", 5, "label") == 2
    with pytest.raises(DataError, match=r"e\.csv, line 7, column 'label': label '3' is outside num_labels=3"):
        label_to_id("3", id2label, label2id, "e.csv", 7, "label")
    with pytest.raises(DataError, match="outside num_labels=3"):
        label_to_id(-1, id2label, label2id, "e.csv", 7, "label")


def test_label_not_in_label2id(tmp_path):
    id2label, label2id = label_maps(["pos", "neg", "pos"], {})
    with pytest.raises(DataError, match=r"e\.jsonl, line 4, column 'label': label 'neutral' is not in label2id"
                                        r".*--ignore-mismatched-sizes"):
        label_to_id("neutral", id2label, label2id, "e.jsonl", 4, "label")


def test_cli_reports_data_errors_in_one_line_with_exit_code_2(tmp_path, capsys):
    train = write(tmp_path / "train.csv", "")
    code = cli.main(["finetune", "--model", "numpy-bert-tiny", "--task", "text-classification",
                     "--train", str(train), "--eval", str(train), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "train.csv, line 1: the file is empty" in err


# ---------------------------------------------------------------------------------------- labels

def test_label_names_are_sorted_as_run_glue_does():
    id2label, label2id = label_maps(["positive", "negative", "neutral", "negative"], {})
    assert id2label == {0: "negative", 1: "neutral", 2: "positive"}
    assert label2id == {"negative": 0, "neutral": 1, "positive": 2}


def test_a_config_that_names_its_labels_keeps_its_mapping():
    config = {"id2label": {"0": "pos", "1": "neg"}, "label2id": {"pos": 0, "neg": 1}}
    assert label_maps(["neg", "pos"], config) == ({0: "pos", 1: "neg"}, {"pos": 0, "neg": 1})
    # HF's default names are no mapping: the data's names are used
    default = {"id2label": {"0": "LABEL_0", "1": "LABEL_1"}}
    assert label_maps(["b", "a"], default)[0] == {0: "a", 1: "b"}


def test_integer_ids_take_the_heads_size():
    assert len(label_maps([0, 1], {}, head_rows=5)[0]) == 5
    assert len(label_maps(["0", "0"], {})[0]) == 2  # at least 2 classes


# ---------------------------------------------------------------------------------------- batches

def test_collate_pads_to_the_longest_row():
    feats = [{"input_ids": [101, 7, 102], "token_type_ids": [0, 0, 0], "labels": [-100, 2, -100]},
             {"input_ids": [101, 7, 8, 9, 102], "token_type_ids": [0, 0, 0, 1, 1], "labels": [-100, 1, 0, 0, -100]}]
    batch = collate(feats, pad_token_id=0)
    assert batch["input_ids"].tolist() == [[101, 7, 102, 0, 0], [101, 7, 8, 9, 102]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["token_type_ids"].tolist() == [[0, 0, 0, 0, 0], [0, 0, 0, 1, 1]]
    assert batch["labels"].tolist() == [[-100, 2, -100, -100, -100], [-100, 1, 0, 0, -100]]
    qa = collate([{"input_ids": [1, 2], "token_type_ids": [0, 1], "start_positions": 1, "end_positions": 1}])
    assert qa["start_positions"].tolist() == [1] and qa["end_positions"].tolist() == [1]
    assert set(qa) == {"input_ids", "token_type_ids", "attention_mask", "start_positions", "end_positions"}


def test_iterate_batches_covers_the_epoch_once_in_a_seeded_order():
    feats = [{"input_ids": [101] + [10 + i] * (1 + i % 4) + [102], "token_type_ids": [0] * (3 + i % 4),
              "labels": i} for i in range(11)]
    batches = list(iterate_batches(feats, 4, seed=3, epoch=0))
    assert [b["labels"].shape[0] for b in batches] == [4, 4, 3] == [4, 4, 3][:steps_per_epoch(11, 4)]
    seen = np.concatenate([b["labels"] for b in batches])
    assert seen.tolist() == epoch_order(11, 3, 0).tolist() and sorted(seen.tolist()) == list(range(11))
    assert epoch_order(11, 3, 1).tolist() != epoch_order(11, 3, 0).tolist()
    # from batch 1 on (what --resume does): the same batches as the full epoch's
    rest = list(iterate_batches(feats, 4, seed=3, epoch=0, start=1))
    assert all(np.array_equal(a["input_ids"], b["input_ids"]) for a, b in zip(rest, batches[1:]))
    for b in batches:  # dynamic padding: each batch as long as its longest row
        assert b["attention_mask"][:, -1].any()


def test_warmup_steps_are_steps_or_a_fraction_as_in_transformers_5():
    from numpy_bert.finetune import make_settings, warmup_step_count

    assert warmup_step_count(0, 30) == 0 and warmup_step_count(5, 30) == 5
    assert warmup_step_count(0.1, 25) == 3  # ceil(2.5)
    with pytest.raises(ValueError, match="--warmup-steps"):
        make_settings("text-classification", warmup_steps=2.5)
    with pytest.raises(ValueError, match="--batch-size must be a positive integer"):
        make_settings("text-classification", batch_size=0)
    assert make_settings("question-answering")["max_length"] == 384
    assert make_settings("text-classification")["lr"] == 5e-5


class FakeQA:
    """A stand-in QA model whose logits are given per window (to test the evaluation alone)."""

    training = False

    def __init__(self, logits):
        self.logits = logits  # {first input id: (start_logits, end_logits)}

    def train(self):
        return self

    def eval(self):
        return self

    def __call__(self, input_ids, token_type_ids=None, attention_mask=None):
        pairs = [self.logits[int(row[1])] for row in input_ids]
        return {"start_logits": np.array([p[0] for p in pairs]), "end_logits": np.array([p[1] for p in pairs])}


def test_qa_evaluation_takes_the_best_span_over_the_windows():
    from numpy_bert.finetune import evaluate_qa

    context = "the car is red and the hat is blue"
    # two windows of one example, [CLS] q [SEP] context piece [SEP]; offsets None outside the context
    w1 = {"input_ids": [1, 11, 2, 5, 6, 7, 8, 2], "token_type_ids": [0] * 8, "example": 0,
          "offsets": [None, None, None, (0, 3), (4, 7), (8, 10), (11, 14), None]}
    w2 = {"input_ids": [1, 12, 2, 8, 9, 10, 11, 2], "token_type_ids": [0] * 8, "example": 0,
          "offsets": [None, None, None, (11, 14), (15, 18), (19, 22), (23, 26), None]}
    flat = np.zeros(8)
    peaked_red = flat.copy(), flat.copy()
    peaked_red[0][6] = peaked_red[1][6] = 3.0                 # "red", fairly sure
    peaked_hat = flat.copy(), flat.copy()
    peaked_hat[0][5] = peaked_hat[1][6] = 8.0                 # "the hat"... very sure
    peaked_hat[0][1] = peaked_hat[1][1] = 20.0                # the question token: never an answer
    model = FakeQA({11: peaked_red, 12: peaked_hat})
    examples = [{"context": context, "answers": {"text": ["the hat"], "answer_start": [19]}}]
    assert evaluate_qa(model, [w1, w2], examples, 2, 0) == {"eval_exact_match": 100.0, "eval_f1": 100.0}
    model = FakeQA({11: peaked_red, 12: (flat, flat)})       # window 2 undecided: window 1's "red" wins
    result = evaluate_qa(model, [w1, w2], [{**examples[0], "answers": {"text": ["red"], "answer_start": [11]}}], 1, 0)
    assert result == {"eval_exact_match": 100.0, "eval_f1": 100.0}
    # max_answer_length 1 forbids "the hat" (two tokens)
    model = FakeQA({11: (flat, flat), 12: peaked_hat})
    assert evaluate_qa(model, [w1, w2], examples, 2, 0, max_answer_length=1)["eval_exact_match"] == 0.0


def test_tags_must_be_iob_names():
    from numpy_bert.finetune import token_features

    examples = [{"line": 3, "tokens": ["a", "b"], "tags": [0, 1]}]
    id2label, label2id = label_maps([0, 1], {})
    with pytest.raises(DataError, match=r"t\.jsonl, line 3, column 'tags': tag 0 \(label 'LABEL_0'\) is not an IOB "
                                        r"tag.*write the tags as names"):
        token_features(examples, None, 16, label2id, id2label, "t.jsonl")
    id2label, label2id = label_maps(["PER", "O"], {})
    with pytest.raises(DataError, match=r"tag 'PER' \(label 'PER'\) is not an IOB tag.*rename"):
        token_features([{"line": 2, "tokens": ["a", "b"], "tags": ["PER", "O"]}], None, 16, label2id, id2label,
                       "t.jsonl")


def test_max_length_is_cut_to_the_models_positions():
    from numpy_bert.finetune import make_settings

    with pytest.warns(UserWarning, match="max_position_embeddings \\(128\\); using max_length=128"):
        s = make_settings("question-answering", max_positions=128)
    assert s["max_length"] == 128 and s["doc_stride"] == 64
    s = make_settings("question-answering", max_positions=512)
    assert s["max_length"] == 384 and s["doc_stride"] == 128  # run_qa's defaults


@pytest.mark.parametrize("label", [0.5, [0, 1], "2.5", True])
def test_regression_and_multi_label_targets_are_refused(tmp_path, label):
    f = jsonl(tmp_path / "r.jsonl", [{"text": "a", "label": 0}, {"text": "b", "label": label}])
    with pytest.raises(DataError, match=r"r\.jsonl, line 2, column 'label': .*single-label"):
        read_examples(f, "text-classification")
