"""Offsets counted in the cleaned text, as if deleted characters had never been there."""

EXERCISE = "a1.tokenize_with_offsets"
EXPECTED = "a character deleted inside a word"


def tokenize_with_offsets(text, vocab, do_lower_case=True, unk_token="[UNK]"):
    cleaned = clean_text(text)                               # positions now count the cleaned text
    words, current = [], []
    for position, char in enumerate(cleaned):
        if char == " ":
            if current:
                words.append(current)
            current = []
            continue
        for c in (strip_accents(char.lower()) if do_lower_case else char):
            if is_punctuation(c) or any(low <= ord(c) <= high for low, high in CJK_RANGES):
                if current:
                    words.append(current)
                words.append([(c, position)])
                current = []
            else:
                current.append((c, position))
    if current:
        words.append(current)
    out = []
    for word in words:
        pieces = wordpiece_tokenize("".join(c for c, _ in word), vocab, unk_token)
        if pieces == [unk_token]:
            out.append((unk_token, word[0][1], word[-1][1] + 1))
            continue
        start = 0
        for piece in pieces:
            length = len(piece) - 2 if piece.startswith("##") else len(piece)
            out.append((piece, word[start][1], word[start + length - 1][1] + 1))
            start += length
    return out
