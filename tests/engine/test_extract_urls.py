"""URLs as the browser writes them: extract's resolver against Node's WHATWG URL parser.

The add-on matches what the display script saw (``img.src``, serialised by Gecko's WHATWG URL
parser) with what the host found; any difference would turn a decided URL into an "undecided"
one. Node implements the same standard, so it serves as the oracle. Skipped without node.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess

import pytest
from pixelwarden.extract import _absolute

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (WHATWG URL oracle)")

_PIECES = [
    *("http:", "https:", "HTTP:", "//", "/", "\\", "a", "B", ".", "..", "%2e", "%41", "%2F"),
    *("?", "#", "&", "=", " ", "\t", "\u00e9", "@", ":", "8080", "x.example", "|", '"', "'"),
    *("<", ">", "`", "{", "}", "^", "~", ";", ",", "%", "-", "_", "0x1", "127", "0", "1"),
    *("\u00fc", "\u00a0", "+", "!", "$", "*", "(", ")", "[", "]", "\u20ac", "xn--"),
]
_PREFIXES = ["http://h.example", "https://h.example/p", "//h.example", "http://", "https://a:b@"]
_BASES = [None, "http://base.example/dir/page?x#y", "https://b.example/", "http://h.example/a/b"]

_ORACLE = """
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = cases.map(([s, b]) => {
  try {
    const u = b ? new URL(s, b) : new URL(s);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    u.hash = '';
    return u.href.endsWith('#') ? u.href.slice(0, -1) : u.href;
  } catch (e) { return null; }
});
process.stdout.write(JSON.stringify(out));
"""


def _cases(count: int, seed: int) -> list[tuple[str, str | None]]:
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 12)))
        if rng.random() < 0.5:
            text = rng.choice(_PREFIXES) + text
        cases.append((text, rng.choice(_BASES)))
    return cases


def _whatwg(cases: list[tuple[str, str | None]]) -> list[str | None]:
    assert NODE is not None
    result = subprocess.run(
        [NODE, "-e", _ORACLE],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(result.stdout)


def _protocol_relative_without_base(text: str, base: str | None) -> bool:
    """Node refuses "//host" without a base; in a message it is https (documented choice)."""
    stripped = text.strip("".join(chr(c) for c in range(33))).translate(
        str.maketrans("", "", "\t\n\r")
    )
    return base is None and stripped.replace("\\", "/").startswith("//")


@pytest.mark.parametrize("seed", [1, 2])
def test_resolver_matches_whatwg(seed: int) -> None:
    cases = _cases(5000, seed)
    expected = _whatwg(cases)
    differences = [
        (text, base, _absolute(text, base), oracle)
        for (text, base), oracle in zip(cases, expected, strict=True)
        if not _protocol_relative_without_base(text, base) and _absolute(text, base) != oracle
    ]
    assert differences == []


def test_protocol_relative_without_base_is_https() -> None:
    assert _absolute("//h.example/p", None) == "https://h.example/p"
