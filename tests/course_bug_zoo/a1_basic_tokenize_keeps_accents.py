"""The basic tokenizer lower-cases but forgets to strip accents."""

EXERCISE = "a1.basic_tokenize"
EXPECTED = "accents are stripped too"


def basic_tokenize(text, do_lower_case=True):
    words = []
    for word in whitespace_tokenize(tokenize_chinese_chars(clean_text(text))):
        if do_lower_case:
            word = word.lower()
        words += split_on_punctuation(word)
    return words
