"""CSS as far as remote content is concerned: the URLs a stylesheet or a style attribute would
fetch, and the few declarations that tell whether an element is hidden or how big it is.

The tokenizer follows CSS Syntax Level 3 (ident, function, url, string, comment and escape
rules), because the tricks that hide a URL from a naive scanner are tokenizer tricks:
``\\75 rl(x)`` is ``url(x)``, ``u/**/rl(x)`` is not, a ``url(`` inside a string or a comment
fetches nothing. Every pattern is possessive or a plain character class, so the scan is linear
in the input whatever it contains (no backtracking blow-up on hostile stylesheets).

Stylesheets without a backslash cannot spell anything with escapes, so they take a fast path
that only stops at the places that matter (comments, strings, ``url(``, ``image-set(``,
``@import``, ``@font-face``, braces); both paths give the same answer (checked by a test).
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable, Iterator
from typing import Literal, NamedTuple

from .model import PixelWardenError

Context = Literal["url", "import", "font-face"]


class CssUrl(NamedTuple):
    """One URL a stylesheet would fetch, as written (escapes decoded, not yet resolved)."""

    url: str
    context: Context  # "url" (url()/image-set()), "import" (@import), "font-face" (@font-face src)


# --- tokens -------------------------------------------------------------------------------


def _chars(ascii_chars: str, non_ascii: bool) -> str:
    """A character class of ``ascii_chars`` (plus every non-ASCII code point if ``non_ascii``).

    With non-ASCII it is spelt as a negated class of ASCII characters: re.compile takes about
    10 ms for each class with a range up to U+10FFFF (most of this module's import time), and
    0.1 ms for the negated form, which matches exactly the same characters."""
    if non_ascii:
        return "[^" + "".join(f"\\x{c:02x}" for c in range(128) if chr(c) not in ascii_chars) + "]"
    return "[" + "".join(f"\\x{ord(c):02x}" for c in sorted(set(ascii_chars))) + "]"


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_NAME_START = _chars(_LETTERS + "_", True)  # [a-zA-Z_\x80-\U0010ffff]
_NAME_CHARS = _chars(_LETTERS + "0123456789_-", True)  # [a-zA-Z0-9_\-\x80-\U0010ffff]

_HEX_ESC = r"[0-9a-fA-F]{1,6}(?:\r\n|[ \t\r\n\f])?"
_ESC = rf"\\(?:{_HEX_ESC}|[^\r\n\f0-9a-fA-F]|\Z)"
_NMSTART = rf"(?:{_NAME_START}|{_ESC})"
_NMCHAR = rf"(?:{_NAME_CHARS}++|{_ESC})"
_IDENT = rf"(?:--|-?{_NMSTART}){_NMCHAR}*+"

# The tokenizers are only needed for CSS with a backslash or a comment (rare in mail): compiled
# on first use, which keeps about 10 ms out of the import.
_TOKEN_PATTERN = rf"""
    (?P<ws>[ \t\r\n\f]++)
  | (?P<comment>/\*(?:[^*]++|\*(?!/))*+(?:\*/)?)
  | (?P<string>"(?:[^"\\\r\n\f]++|\\[\s\S]|\\\Z)*+(?:"|(?=[\r\n\f])|\Z)
              |'(?:[^'\\\r\n\f]++|\\[\s\S]|\\\Z)*+(?:'|(?=[\r\n\f])|\Z))
  | (?P<cdo><!--)
  | (?P<ident>{_IDENT})(?P<paren>\()?
  | (?P<at>@{_IDENT})
  | (?P<number>[+-]?(?:[0-9]++(?:\.[0-9]++)?|\.[0-9]++)(?:[eE][+-]?[0-9]++)?(?:%|{_IDENT})?)
  | (?P<hash>\#{_NMCHAR}++)
  | (?P<char>[\s\S])
    """
# For finding URLs only: runs of complete tokens that can never matter (escape-free idents not
# opening a function, numbers, hashes, punctuation) are swallowed in one match. Each unit is
# possessive and refuses to end before an escape, so a run never splits a token differently
# from the tokenizer; characters that could start something else (- + # @ < / \ quotes,
# parentheses, braces, ";") are left to the token alternatives.
_PLAIN_NAME = _NAME_CHARS
# The ASCII characters of [^\\/"'(){};@<#+\-.0-9a-zA-Z_\x80-\U0010ffff \t\r\n\f].
_BORING_CHAR = _chars(
    "".join(
        chr(c)
        for c in range(128)
        if chr(c) not in _LETTERS + "0123456789_\\/\"'(){};@<#+-. \t\r\n\f"
    ),
    False,
)
_BORING_UNIT = rf"""(?:
      {_BORING_CHAR}
    | \.(?![0-9])
    | (?:--|-?{_NAME_START}){_PLAIN_NAME}*+(?![\\(])
    | [+-]?(?:[0-9]++(?:\.[0-9]++)?|\.[0-9]++)(?:[eE][+-]?[0-9]++)?
      (?:%|(?:--|-?{_NAME_START}){_PLAIN_NAME}*+)?(?![\\]|{_NAME_CHARS})
    | \#{_PLAIN_NAME}++(?![\\])
    )"""
_BORING = rf"(?P<boring>(?:{_BORING_UNIT}|[ \t\r\n\f]++)++)"


@functools.cache
def _tokenizer(skim: bool) -> re.Pattern[str]:
    """The token pattern; with ``skim``, the one that swallows runs of boring tokens."""
    return re.compile(_BORING + "|" + _TOKEN_PATTERN if skim else _TOKEN_PATTERN, re.VERBOSE)


_ESCAPE = re.compile(rf"{_ESC}|\\(?=[\r\n\f])")
_STRING_ESCAPE = re.compile(rf"\\(?:\r\n|[\n\f\r])|{_ESC}")
_WS = re.compile(r"[ \t\r\n\f]*+")
# After "url(" and optional whitespace: the unquoted URL, then whitespace, then ")" or the end.
_URL_BODY = re.compile(
    rf"((?:[^)\\\"'(\s\x00-\x08\x0b\x0e-\x1f\x7f]++|{_ESC})*+)[ \t\r\n\f]*+(\)|\Z)?"
)
# What is left of a bad url token: up to the next unescaped ")".
_BAD_URL_REST = re.compile(r"(?:[^)\\]++|\\[\s\S])*+\)?")


def _check(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise PixelWardenError("parse_timeout", "reading a stylesheet took too long")


def _skip(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """End of ``pattern`` (which can match the empty string) matched at ``pos``."""
    m = pattern.match(text, pos)
    return pos if m is None else m.end()


def _unescape_char(m: re.Match[str]) -> str:
    text = m.group(0)
    if len(text) == 1 or text[1] in "\r\n\f":  # "\" at the end of input, or a line continuation
        return "\ufffd" if len(text) == 1 else ""
    body = text[1:].rstrip(" \t\r\n\f") or text[1:]
    if all(c in "0123456789abcdefABCDEF" for c in body) and body:
        code = int(body, 16)
        if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            return "\ufffd"
        return chr(code)
    return body


def unescape(text: str) -> str:
    """Decode CSS escapes (``\\75`` → ``u``, ``\\)`` → ``)``) in an ident or a URL."""
    return _ESCAPE.sub(_unescape_char, text) if "\\" in text else text


def _unescape_string(body: str) -> str:
    return _STRING_ESCAPE.sub(_unescape_char, body) if "\\" in body else body


def _tokens(css: str, skim: bool = False) -> Iterator[tuple[str, str, str]]:
    """Yield (type, value, source text). Types: ws, string, url, function, ident, at, char,
    other, bad (a bad string or url: a browser ignores it). Comments are dropped. With
    ``skim``, runs of tokens that cannot matter to URL finding come as one "other"."""
    pos = 0
    n = len(css)
    match = _tokenizer(skim).match
    while pos < n:
        m = match(css, pos)
        if m is None:  # cannot happen: the last alternative matches any character
            return
        kind = m.lastgroup
        end = m.end()
        if kind == "paren" or kind == "ident":
            name = unescape(m.group("ident"))
            if m.group("paren") is None:
                yield "ident", name, m.group(0)
            elif name.lower() == "url":
                after = _skip(_WS, css, end)
                if after < n and css[after] in "\"'":
                    yield "function", "url", m.group(0)
                else:
                    body = _URL_BODY.match(css, after)
                    if body is not None and (body.group(2) is not None or body.end() >= n):
                        end = body.end()
                        yield "url", unescape(body.group(1)), css[pos:end]
                    else:  # bad url: ignored by browsers
                        end = _skip(_BAD_URL_REST, css, after)
                        yield "bad", "", css[pos:end]
            else:
                yield "function", name.lower(), m.group(0)
        elif kind == "string":
            text = m.group("string")
            closed = len(text) >= 2 and text[-1] == text[0] and not _ends_escaped(text)
            if end < n and css[end] in "\r\n\f" and not closed:
                yield "bad", "", text  # bad string (unescaped newline): ignored by browsers
            else:
                yield "string", _unescape_string(text[1:-1] if closed else text[1:]), text
        elif kind == "ws" or (kind == "boring" and not m.group(0).strip(" \t\r\n\f")):
            yield "ws", " ", m.group(0)  # (whitespace matters right after @import)
        elif kind == "comment":
            pass
        elif kind == "cdo":
            yield "other", "<!--", "<!--"
        elif kind == "at":
            yield "at", unescape(m.group("at")[1:]).lower(), m.group(0)
        elif kind == "char":
            yield "char", m.group(0), m.group(0)
        else:
            yield "other", m.group(0), m.group(0)
        pos = end


def _ends_escaped(text: str) -> bool:
    """Whether the closing quote of a string token is itself escaped (then it is unterminated)."""
    backslashes = len(text) - 1 - len(text[:-1].rstrip("\\"))
    return backslashes % 2 == 1


_IMAGE_SETS = frozenset({"image-set", "-webkit-image-set"})


def _urls_full(css: str, skim: bool = True, deadline: float | None = None) -> list[CssUrl]:
    found: list[CssUrl] = []
    count = 0
    functions: list[str] = []  # open functions and parentheses, innermost last
    depth = 0  # braces
    font_face_depth = -1  # brace depth inside an @font-face block, -1 outside
    font_face_pending = False
    import_pending = False
    for kind, value, _ in _tokens(css, skim):
        count += 1
        if deadline is not None and not count & 4095:
            _check(deadline)
        if kind == "ws":
            continue
        if import_pending and not (
            kind in ("url", "string") or (kind == "function" and value == "url")
        ):
            import_pending = False
        context: Context = (
            "import" if import_pending else "font-face" if font_face_depth >= 0 else "url"
        )
        if kind == "url":
            if value:
                found.append(CssUrl(value, context))
            import_pending = False
        elif kind == "string":
            top = functions[-1] if functions else ""
            if (import_pending or top == "url" or top in _IMAGE_SETS) and value:
                found.append(CssUrl(value, context))
            import_pending = False
        elif kind == "function":
            functions.append(value)
        elif kind == "at":
            import_pending = value == "import"
            # Another at-keyword in @font-face's prelude does not end it: the next block is still
            # the @font-face block, as the fast path reads it ("@font-face@import {...}").
            font_face_pending = font_face_pending or value == "font-face"
        elif kind == "char":
            if value == "(":
                functions.append("(")
            elif value == ")":
                if functions:
                    functions.pop()
            elif value == "{":
                functions.clear()
                if font_face_pending:
                    font_face_depth = depth
                    font_face_pending = False
                depth += 1
            elif value == "}":
                functions.clear()
                depth = max(0, depth - 1)
                if depth <= font_face_depth:
                    font_face_depth = -1
            elif value == ";":
                font_face_pending = False
    return found


# --- fast path (no backslash anywhere) -------------------------------------------------------

# Scanned on an ASCII-lower-cased copy (same length), without IGNORECASE or look-behinds, so
# that the regex engine can skip quickly to the next candidate character; the context checks
# (is "url(" the start of an ident? is "@import" a whole at-keyword?) are made in Python.
_BASE = r"""/\*|["']|@import|@font-face|url\(|-webkit-image-set\(|image-set\("""
# Which characters matter depends on the state: parentheses only inside image-set()/url(),
# braces only around an @font-face block. Fewer stops, fewer Python iterations.
_SCAN = {
    (False, False): re.compile(_BASE),
    (True, False): re.compile(_BASE + r"|[(){}]"),
    (False, True): re.compile(_BASE + r"|[{}]"),
    (True, True): re.compile(_BASE + r"|[(){}]"),
}
# Outside url()/image-set()/@import/@font-face nothing but those can fetch, and strings there
# only need skipping: one match runs to the next candidate, over any number of strings.
_OUTSIDE = re.compile(
    r"""(?:[^"'/@ui\-]++|"[^"\r\n\f]*+"?|'[^'\r\n\f]*+'?|/(?!\*)|@(?!import|font-face)
    |u(?!rl\()|i(?!mage-set\()|-(?!webkit-image-set\())*+""",
    re.VERBOSE,
)
_NAME = re.compile(_NAME_CHARS)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_GAP = re.compile(r"(?:[ \t\r\n\f]++|/\*(?:[^*]++|\*(?!/))*+(?:\*/)?)*+")
_URL_OPEN = re.compile(r"url\(", re.IGNORECASE)


def _is_name_char(text: str, pos: int) -> bool:
    return 0 <= pos < len(text) and _NAME.match(text, pos) is not None


def _urls_fast(css: str, lowered: str | None = None, deadline: float | None = None) -> list[CssUrl]:
    if lowered is None or len(lowered) != len(css):
        lowered = css.translate(_ASCII_LOWER)
    found: list[CssUrl] = []
    functions: list[str] = []  # open functions and parentheses inside image-set()/url()
    font_face = 0  # 0 outside, 1 after @font-face before its "{", 2 inside its block
    font_face_at = 0
    braces = 0
    import_pending = False
    n = len(css)
    pos = 0
    count = 0
    while True:
        count += 1
        if deadline is not None and not count & 4095:
            _check(deadline)
        if not functions and not font_face and not import_pending:
            pos = _skip(_OUTSIDE, lowered, pos)
        m = _SCAN[bool(functions), font_face > 0].search(lowered, pos)
        if m is None:
            break
        token = m.group(0)
        pos = m.end()
        first = token[0]
        if first == "@" and _is_name_char(css, pos):
            pos = m.start() + 1  # a longer at-keyword (@imports, @font-faces)
            continue
        if token[-1] == "(" and len(token) > 1:
            start = m.start()
            before = css[start - 1] if start else ""
            if (before and (_is_name_char(css, start - 1) or before in "#@")) and not (
                start >= 4 and css[start - 4 : start] == "<!--"
            ):
                pos = start + 1  # part of a longer name: xurl(, #url(, -url(
                continue
        if first == "/":
            close = css.find("*/", pos)
            pos = n if close < 0 else close + 2
            continue
        context: Context = "import" if import_pending else "font-face" if font_face == 2 else "url"
        if first in "\"'":
            close = css.find(first, pos)
            newline = _first_newline(css, pos, close)
            value: str | None
            if newline >= 0:  # bad string: dropped, ends before the newline
                value, pos = None, newline
            elif close < 0:
                value, pos = css[pos:], n
            else:
                value, pos = css[pos:close], close + 1
            top = functions[-1] if functions else ""
            if value and (import_pending or top == "url" or top in _IMAGE_SETS):
                found.append(CssUrl(value, context))
            import_pending = False
        elif first == "@":
            if token[1:].lower() == "import":
                target = _skip(_GAP, css, pos)
                if target < n and (css[target] in "\"'" or _URL_OPEN.match(css, target)):
                    import_pending = True
                    pos = target
            else:
                font_face, font_face_at = 1, pos
        elif first == "(":
            functions.append("(")
        elif first == ")":
            functions.pop()
        elif first == "{":
            functions.clear()
            if font_face == 1 and braces == 0:
                # "@font-face;" is a statement without a block: this brace is not its block.
                font_face = 2 if css.find(";", font_face_at, m.start()) < 0 else 0
            if font_face:
                braces += 1
        elif first == "}":
            functions.clear()
            braces -= 1
            if braces <= 0:
                braces = 0
                font_face = 0
        else:  # a function: url( or image-set(
            name = token[:-1].lower()
            if name != "url":
                functions.append(name)
                continue
            after = _skip(_WS, css, pos)
            if after < n and css[after] in "\"'":
                functions.append("url")
                continue
            body = _URL_BODY.match(css, after)
            if body is not None and (body.group(2) is not None or body.end() >= n):
                pos = body.end()
                if body.group(1):
                    found.append(CssUrl(body.group(1), context))
            else:
                pos = _skip(_BAD_URL_REST, css, after)
            import_pending = False
    return found


def _first_newline(css: str, start: int, stop: int) -> int:
    """Position of the first newline in css[start:stop] (stop < 0: to the end), or -1."""
    end = len(css) if stop < 0 else stop
    best = -1
    for ch in "\n\r\f":
        i = css.find(ch, start, end)
        if i >= 0 and (best < 0 or i < best):
            best = i
    return best


_MAY_FETCH = ("url(", "image-set", "@import", "\\")

# The commonest stylesheet that fetches: a style attribute with one url() (a background image)
# among declarations where the scanner has nothing else to stop at: no quote, comment, at-rule,
# parenthesis, brace or escape outside it. Its one URL is read here directly; anything else, or
# a "url(" that is the end of a longer name, goes through the scanner (a test holds the two to
# the same answer).
_ONE_URL = re.compile(
    r"""([^"'/@\\(){}]*)[uU][rR][lL]\((?:'([^'\r\n\f]+)'|"([^"\r\n\f]+)"|"""
    r"""([^)\\"'(\s\x00-\x08\x0b\x0e-\x1f\x7f]+))\)[^"'/@\\(){}]*"""
)


def _one_url(css: str) -> list[CssUrl] | None:
    m = _ONE_URL.fullmatch(css)
    if m is None:
        return None
    before = m.group(1)
    if before and (_NAME.match(before, len(before) - 1) is not None or before[-1] == "#"):
        return None  # "xurl(", "#url(": not the url() function (the scanner decides)
    return [CssUrl(m.group(2) or m.group(3) or m.group(4), "url")]


def find_urls(css: str, deadline: float | None = None) -> list[CssUrl]:
    """Every URL the stylesheet ``css`` would fetch, in document order, as written.

    Linear, but a megabyte of escapes still costs a second or so: past ``deadline`` (a
    time.monotonic() value) the scan stops with PixelWardenError("parse_timeout").
    """
    lowered = css.lower()
    if not any(hint in lowered for hint in _MAY_FETCH):
        return []
    if "\\" in css:
        return _urls_full(css, deadline=deadline)
    return _one_url(css) or _urls_fast(css, lowered, deadline)


# --- declarations ----------------------------------------------------------------------------


def parse_declarations(style: str) -> dict[str, str]:
    """The declarations of a style attribute: lower-case property → lower-case value.

    The cascade inside one attribute: the last declaration wins, except that an ``!important``
    one is only overridden by a later ``!important`` one. Values are trimmed, comments removed
    and escapes decoded; ``!important`` is not part of the value.
    """
    result: dict[str, str] = {}
    important: set[str] | None = None
    if "\\" in style or "/*" in style:
        pairs: Iterable[tuple[str, str]] = _declarations_tokenized(style)
    elif "(" in style or '"' in style or "'" in style:
        pairs = _declarations_quoted(style)
    else:
        pairs = _declarations_split(style)
    for name, value in pairs:
        value = value.lower()
        if "!" in value:
            bang = value.rfind("!")
            if value[bang + 1 :].strip() == "important":
                value = value[:bang].rstrip()
                if important is None:
                    important = set()
                important.add(name)
            elif important is not None and name in important:
                continue
        elif important is not None and name in important:
            continue
        if value:
            result[name] = value
    return result


def _declarations_split(style: str) -> list[tuple[str, str]]:
    pairs = []
    for part in style.split(";"):
        name, colon, value = part.partition(":")
        if colon:
            name = name.strip().lower()
            if name and " " not in name:
                pairs.append((name, value.strip(" \t\r\n\f")))
    return pairs


# One declaration: up to a ";" that is not inside a string or parentheses (url(a;b), "a;b").
_DECLARATION = re.compile(r"""((?:[^;"'(]++|"[^"]*+"?|'[^']*+'?|\([^)]*+\)?)*+);?""")


def _declarations_quoted(style: str) -> Iterator[tuple[str, str]]:
    pos = 0
    n = len(style)
    while pos < n:
        m = _DECLARATION.match(style, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        name, colon, value = m.group(1).partition(":")
        if colon:
            name = name.strip().lower()
            if name and " " not in name:
                yield name, value.strip(" \t\r\n\f")


def _declarations_tokenized(style: str) -> Iterator[tuple[str, str]]:
    name: str | None = None
    value: list[str] = []
    seen_colon = False
    nesting = 0
    invalid = False
    for kind, val, source in _tokens(style):
        if nesting == 0 and kind == "char" and val == ";":
            if name and seen_colon and not invalid:
                yield name.lower(), "".join(value).strip(" ")
            name, value, seen_colon, invalid = None, [], False, False
            continue
        if not seen_colon:
            if kind == "ws":
                continue
            if name is None and kind == "ident":
                name = val
            elif name is not None and kind == "char" and val == ":":
                seen_colon = True
            else:
                invalid = True
            continue
        if kind in ("function",) or (kind == "char" and val in "([{"):
            nesting += 1
        elif kind == "char" and val in ")]}":
            nesting = max(0, nesting - 1)
        if kind == "ident":
            value.append(val)
        elif kind == "ws":
            value.append(" ")
        else:
            value.append(source)
    if name and seen_colon and not invalid:
        yield name.lower(), "".join(value).strip(" ")


_LENGTH = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:e[+-]?[0-9]+)?)([a-z%]*)")
_PX_PER_UNIT = {
    "px": 1.0,
    "": 1.0,  # unitless: only 0 is valid CSS, but mail clients accept "1" in inline styles
    "pt": 96 / 72,
    "pc": 16.0,
    "in": 96.0,
    "cm": 96 / 2.54,
    "mm": 96 / 25.4,
    "q": 96 / 101.6,
}


def length_px(value: str | None) -> int | None:
    """A CSS length in whole CSS pixels (``1px`` → 1, ``0`` → 0, ``0.75pt`` → 1); None for
    percentages, ``auto``, font-relative units and anything unparseable."""
    if not value:
        return None
    if value.endswith("px") and value[:-2].isdigit():  # the usual case, fast
        return int(value[:-2])
    if value[-1] == "%" or value[0] in "abcdefghijklmnopqrstuvwxyz":  # 100%, auto, inherit
        return None
    m = _LENGTH.fullmatch(value.strip())
    if m is None:
        return None
    factor = _PX_PER_UNIT.get(m.group(2))
    if factor is None:
        return None
    try:
        number = float(m.group(1)) * factor
    except (ValueError, OverflowError):
        return None
    if number < 0 or number != number or number > 1e9:
        return None
    return int(number + 0.5)
