"""Text cleaning that tests for control characters first, and so deletes tabs and newlines."""

EXERCISE = "a1.clean_text"
EXPECTED = "every whitespace character"


def clean_text(text):
    out = []
    for char in text:
        if ord(char) in (0, 0xFFFD) or unicodedata.category(char) in ("Cc", "Cf"):
            continue                                         # "\t" and "\n" are Cc: deleted
        out.append(" " if char == " " or unicodedata.category(char) == "Zs" else char)
    return "".join(out)
