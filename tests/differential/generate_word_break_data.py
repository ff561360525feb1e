"""Write localsearch/word_break_data.py: how the real node's standard tokenizer classes every code point.

    OPENSEARCH_URL=http://127.0.0.1:9250 .venv/bin/python tests/differential/generate_word_break_data.py

OpenSearch's tokenizer (Lucene's JFlex grammar) carries its own Unicode tables (12.0), which neither Python's
`unicodedata` nor any package here reproduces exactly, so the node is asked (`_analyze`, about 40 s):
- each code point alone: the token type it makes, if any (word, number, ideograph, hiragana, katakana, South East
  Asian, emoji);
- each code point that makes no token alone, between letters and digits: whether it attaches to what precedes it
  (Extend, Format, ZWJ), joins words (ExtendNumLet `_`), letters (MidLetter `:`), numbers (MidNum `,`) or both
  (MidNumLet `.`);
- each emoji, between letters: whether it is a letter too (Ⓜ).
test_analysis.py checks every code point against the node again, so a stale table fails there.
"""

from __future__ import annotations

import bisect
import os
import sys
from pathlib import Path

import requests

OUT = Path(__file__).resolve().parents[2] / "localsearch" / "word_break_data.py"
STANDALONE = {"<ALPHANUM>": "L", "<HANGUL>": "L", "<NUM>": "D", "<IDEOGRAPHIC>": "H", "<HIRAGANA>": "H",
              "<KATAKANA>": "K", "<SOUTHEAST_ASIAN>": "S"}
MODIFIERS = range(0x1F3FB, 0x1F400)  # emoji skin tones: Extend, and an emoji alone
CODE_POINTS = [c for c in range(0x21, 0x110000) if not 0xD800 <= c <= 0xDFFF]


class Node:
    def __init__(self, url: str) -> None:
        self.url, self.session = url.rstrip("/") + "/_analyze", requests.Session()

    def probe(self, code_points: list[int], shape: str, batch: int = 2500) -> dict[int, list[dict]]:
        """The tokens of `shape` with each code point in it (probes separated by spaces), by code point."""
        out: dict[int, list[dict]] = {}
        for i in range(0, len(code_points), batch):
            chunk = code_points[i:i + batch]
            starts, text = [], ""
            for c in chunk:
                starts.append(len(text))
                text += shape.format(chr(c)) + " "
            position_of, units = {}, 0  # the node's offsets count UTF-16 units
            for k, char in enumerate(text):
                position_of[units] = k
                units += 2 if ord(char) > 0xFFFF else 1
            reply = self.session.post(self.url, json={"analyzer": "standard", "text": text}, timeout=120)
            reply.raise_for_status()
            for token in reply.json()["tokens"]:
                probe = bisect.bisect_right(starts, position_of[token["start_offset"]]) - 1
                out.setdefault(chunk[probe], []).append(token)
        return out


def classify(node: Node) -> tuple[dict[int, str], set[int]]:
    alone = node.probe(CODE_POINTS, "{}", batch=4000)
    emoji = {c for c, tokens in alone.items() if tokens[0]["type"] == "<EMOJI>"}
    emoji_letters = {c for c, tokens in node.probe(sorted(emoji), "a{}b").items()
                     if len(tokens) == 1 and c not in MODIFIERS}
    kinds = {c: "L" if c in emoji_letters else "M" if c in MODIFIERS else "O" if c in emoji
             else STANDALONE[tokens[0]["type"]] for c, tokens in alone.items()}
    rest = [c for c in CODE_POINTS if c not in alone]
    shapes = {"after": "a{}", "before": "{}a", "letters": "a{}b", "digits": "1{}2"}
    seen = {name: node.probe(rest, shape) for name, shape in shapes.items()}
    for c in rest:
        char = chr(c)
        texts = {name: [t["token"] for t in seen[name].get(c, [])] for name in shapes}
        if texts["after"] == ["a" + char]:
            kinds[c] = "J" if texts["before"] == [char + "a"] else "M"
            continue
        letters, digits = texts["letters"] == ["a" + char + "b"], texts["digits"] == ["1" + char + "2"]
        kinds[c] = "b" if letters and digits else "m" if letters else "n" if digits else "O"
    return kinds, emoji - set(MODIFIERS)


def ranges(points: set[int]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for c in sorted(points):
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return [(a, b) for a, b in out]


def wrapped(items: list[str], indent: str = "    ", width: int = 116) -> list[str]:
    lines, row = [], indent
    for item in items:
        if len(row) + len(item) + 1 > width:
            lines.append(row.rstrip())
            row = indent
        row += item + " "
    return [*lines, row.rstrip()]


def main() -> int:
    url = os.environ.get("OPENSEARCH_URL", "http://127.0.0.1:9250")
    version = requests.get(url, timeout=30).json()["version"]["number"]
    kinds, emoji = classify(Node(url))
    runs, previous = [], None
    for c in range(0x21, 0x110000):
        kind = kinds.get(c, "O")
        if kind != previous:
            runs.append(f"{c:x}{kind}")
            previous = kind
    lines = [
        f'"""How OpenSearch {version}\'s standard tokenizer classes each code point, as its `_analyze` shows it.',
        "",
        "Generated by tests/differential/generate_word_break_data.py; do not edit. RUNS: where each run of code points",
        "of one class starts (hexadecimal) and its class: L letter, D digit, H ideograph or hiragana (one token",
        "each), K katakana, S South East Asian (runs kept whole), M attached to what precedes it (Extend, Format,",
        "ZWJ), J joins words (ExtendNumLet), m joins letters (MidLetter), n joins digits (MidNum), b joins both",
        "(MidNumLet), O anything else. EMOJI: the code points Lucene's emoji rule starts with (Extended_Pictographic",
        "and the Emoji that are not keycap bases, regional indicators, modifiers or the accidental © ® ™ 〰 〽).",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "RUNS = (",
        *[f'    "{line} "' for line in wrapped(runs, indent="", width=108)],
        ").split()",
        "EMOJI: tuple[tuple[int, int], ...] = (",
        *wrapped([f"(0x{a:X}, 0x{b:X})," for a, b in ranges(emoji)]),
        ")",
        "",
    ]
    OUT.write_text("\n".join(lines))
    print(f"wrote {OUT}: {len(runs)} runs, {len(ranges(emoji))} emoji ranges", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
