"""Learning a WordPiece vocabulary from text: what ``numpy-bert train-vocab`` runs.

    >>> from numpy_bert.tokenization import write_vocab
    >>> tokens = train_wordpiece(["corpus.txt"], vocab_size=8000)   # list of tokens, id = index
    >>> write_vocab(tokens, "vocab.txt")

How the vocabulary is learned: pre-tokenize the text with the same ``BasicTokenizer``
the model will use and count the words; spell each word in characters, the first bare
and the rest as ``##`` continuations ("running" -> r ##u ##n ##n ##i ##n ##g); then,
again and again, merge the best adjacent pair of symbols into one new token ("##n" +
"##g" -> "##ng") until the vocabulary is full. Which pair is best is the ``criterion``:

- ``"frequency"`` (the default): the pair that occurs most often, count(ab). That is
  BPE's rule (Sennrich et al.), and what HuggingFace's ``WordPieceTrainer`` does (it is
  its BPE trainer with a ``##`` prefix).
- ``"likelihood"``: the original WordPiece's rule (Schuster and Nakajima), the pair
  whose merge most raises the likelihood of the training text under a unigram model of
  the symbols, which HuggingFace's course writes as the score
  count(ab) / (count(a) count(b)). It prefers pairs whose parts rarely occur apart
  ("##q" + "##u") to pairs of two common symbols that are frequent only because both
  are ("##e" + "##s").

Either way, merges are only how the vocabulary is learned: the tokenizer that uses it
(``numpy_bert.tokenization.WordpieceTokenizer``) does not replay them but splits
each word greedily, longest match first, so a word may come out split differently
from the merges that built its pieces.
"""

import collections
import heapq
import os

from numpy_bert.tokenization import SPECIAL_TOKENS, BasicTokenizer, _is_int

__all__ = ["CRITERIA", "count_words", "train_wordpiece"]

# how train_wordpiece scores a pair of adjacent symbols (a, b); the best-scoring pair is merged
CRITERIA = ("frequency", "likelihood")


def _read_texts(files_or_texts):
    """Yield lines from file paths (str / Path naming an existing file) or from text strings."""
    if isinstance(files_or_texts, (str, os.PathLike)):
        files_or_texts = [files_or_texts]
    for item in files_or_texts:
        if isinstance(item, os.PathLike) or (isinstance(item, str) and "\n" not in item and os.path.isfile(item)):
            path = os.fspath(item)
            opener = open
            if path.endswith(".gz"):
                import gzip

                opener = gzip.open
            with opener(path, "rt", encoding="utf-8", errors="replace") as f:
                yield from f
        elif isinstance(item, str):
            yield from item.splitlines()
        else:
            raise TypeError(f"train_wordpiece takes file paths or text strings, got {type(item).__name__}")


def count_words(files_or_texts, do_lower_case=True, strip_accents=None, tokenize_chinese_chars=True,
                max_input_chars_per_word=100):
    """Pre-tokenize the training text exactly as the tokenizer will -> Counter word -> count."""
    basic = BasicTokenizer(do_lower_case, never_split=SPECIAL_TOKENS, tokenize_chinese_chars=tokenize_chinese_chars,
                           strip_accents=strip_accents)
    chunks = collections.Counter()
    for line in _read_texts(files_or_texts):
        chunks.update(basic._chunk_re.findall(line))
    words = collections.Counter()
    for chunk, count in chunks.items():
        if chunk in SPECIAL_TOKENS:
            continue
        for word, _ in basic.split_chunk(chunk):
            if len(word) <= max_input_chars_per_word:
                words[word] += count
    return words


def train_wordpiece(files_or_texts, vocab_size=8000, do_lower_case=True, strip_accents=None,
                    tokenize_chinese_chars=True, min_frequency=2, limit_alphabet=1000,
                    special_tokens=None, progress=None, criterion="frequency"):
    """Learn a WordPiece vocabulary of ``vocab_size`` tokens -> list of tokens (id = index).

    The algorithm is the one HuggingFace's ``WordPieceTrainer`` uses (BPE merges
    with a ``##`` continuation prefix):

    1. Pre-tokenize the text with the same BasicTokenizer the model will use and
       count the words: {"the": 5210, "running": 40, ...}.
    2. Spell every word in characters, the first bare and the rest with ``##``:
       "running" -> r ##u ##n ##n ##i ##n ##g. The vocab starts as the special tokens
       ([PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, as transformers numbers them)
       plus these characters (the ``limit_alphabet`` most frequent; rarer characters
       will be [UNK]).
    3. Repeatedly merge the adjacent pair with the best score (ties: the pair that
       sorts first) into one symbol, "##n" + "##g" -> "##ng", add it to the vocab and
       update the counts of the neighbouring pairs, until the vocab is full or no
       pair occurs ``min_frequency`` times. The score is the ``criterion``:

           "frequency"   score(a, b) = count(ab)                       (BPE, HF's trainer)
           "likelihood"  score(a, b) = count(ab) / (count(a) count(b))  (original WordPiece)

       where count(ab) counts the pair's occurrences and count(a) the symbol's, each
       word weighted by its count. Pairs seen fewer than ``min_frequency`` times are
       never merged.

    ``files_or_texts``: paths of text files (UTF-8, .gz allowed) or strings of text.
    The result loads in numpy_bert's and in transformers' BertTokenizer alike;
    write it with ``write_vocab(tokens, "vocab.txt")``.
    """
    special_tokens = list(SPECIAL_TOKENS if special_tokens is None else special_tokens)
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {', '.join(map(repr, CRITERIA))}, got {criterion!r}")
    if not _is_int(vocab_size) or vocab_size <= len(special_tokens):
        raise ValueError(f"vocab_size must be an int larger than the {len(special_tokens)} special tokens, "
                         f"got {vocab_size!r}")
    words = count_words(files_or_texts, do_lower_case, strip_accents, tokenize_chinese_chars)
    if not words:
        raise ValueError("no words in the training text: pass text files or strings with some text in them")
    if progress:
        progress(f"{len(words)} distinct words, {sum(words.values())} in all")

    # 2. the alphabet: characters by frequency, in both word-initial and continuation form
    char_counts = collections.Counter()
    for word, count in words.items():
        for c in word:
            char_counts[c] += count
    alphabet = {c for c, _ in char_counts.most_common(limit_alphabet)}
    vocab = list(special_tokens)
    in_vocab = set(vocab)
    symbols_seen = collections.Counter()
    word_list, counts, spelled = [], [], []
    for word, count in words.items():
        symbols = [c if i == 0 else "##" + c for i, c in enumerate(word)]
        if any(c not in alphabet for c in word):
            continue  # a word with an [UNK] character can never be split: it would be [UNK] anyway
        for s in symbols:
            symbols_seen[s] += count
        word_list.append(word)
        counts.append(count)
        spelled.append(symbols)
    for symbol in sorted(symbols_seen):
        if symbol not in in_vocab and len(vocab) < vocab_size:
            vocab.append(symbol)
            in_vocab.add(symbol)

    # 3. merges: pair counts, which words hold each pair, which pairs hold each symbol,
    # and a max-heap of scores with lazy deletion (an entry whose score is out of date is
    # re-pushed with the current one when it comes to the top)
    symbol_counts = collections.Counter(symbols_seen)        # count(a), for "likelihood"
    pair_counts = collections.Counter()
    where = collections.defaultdict(set)
    pairs_of = collections.defaultdict(set)
    for index, (symbols, count) in enumerate(zip(spelled, counts)):
        for pair in zip(symbols, symbols[1:]):
            pair_counts[pair] += count
            where[pair].add(index)
    for pair in pair_counts:
        pairs_of[pair[0]].add(pair)
        pairs_of[pair[1]].add(pair)

    if criterion == "frequency":
        def score(pair):
            return pair_counts[pair]
    else:
        def score(pair):
            return pair_counts[pair] / (symbol_counts[pair[0]] * symbol_counts[pair[1]])

    heap = [(-score(pair), pair) for pair in pair_counts]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        negative, pair = heapq.heappop(heap)
        count = pair_counts.get(pair, 0)
        if count == 0:
            continue                       # merged away
        if score(pair) != -negative:       # stale entry: push the current score back
            heapq.heappush(heap, (-score(pair), pair))
            continue
        if count < min_frequency:
            if criterion == "frequency":
                break                      # every other pair is rarer still
            continue                       # a rare pair may score high: skip it (pushed again if it grows)
        a, b = pair
        merged = a + b[2:]  # b is always a "##" continuation
        if merged not in in_vocab:
            vocab.append(merged)
            in_vocab.add(merged)
        changed = collections.Counter()
        for index in where.pop(pair, ()):
            symbols, word_count = spelled[index], counts[index]
            i, new = 0, []
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
                    new.append(merged)
                    i += 2
                else:
                    new.append(symbols[i])
                    i += 1
            for old_pair in zip(symbols, symbols[1:]):
                changed[old_pair] -= word_count
            for new_pair in zip(new, new[1:]):
                changed[new_pair] += word_count
                where[new_pair].add(index)
            for symbol in symbols:
                symbol_counts[symbol] -= word_count
            for symbol in new:
                symbol_counts[symbol] += word_count
            spelled[index] = new
        pair_counts.pop(pair, None)
        changed.pop(pair, None)
        for p, delta in changed.items():
            if delta:
                pair_counts[p] += delta
                if pair_counts[p] <= 0:
                    del pair_counts[p]
                elif delta > 0:
                    pairs_of[p[0]].add(p)
                    pairs_of[p[1]].add(p)
                    heapq.heappush(heap, (-score(p), p))
        if criterion == "likelihood":
            # count(a) and count(b) fell, so every pair holding a or b may score higher now
            for p in pairs_of[a] | pairs_of[b]:
                if p in pair_counts:
                    heapq.heappush(heap, (-score(p), p))
        if progress and len(vocab) % 1000 == 0:
            progress(f"{len(vocab)} tokens")
    return vocab
