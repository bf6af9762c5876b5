/* Pixel Warden: finds every URL a piece of CSS would load, and rewrites them.
 *
 * A classic script (no import/export) so that the same file serves the message display script
 * (content scripts cannot be ES modules) and the background page; it publishes one global,
 * `pixelwardenCss`. It is a tokenizer, not a parser: it only needs to know where url(), @import
 * strings and image-set() strings are, and whether they sit inside an @font-face block.
 */
"use strict";

(function publish(global) {
  const IDENT_CHAR = /[A-Za-z0-9_-]/;

  // CSS escapes: "\" followed by 1-6 hex digits and an optional space, or by any other character.
  function unescapeCss(raw) {
    return raw.replace(/\\([0-9a-fA-F]{1,6}\s?|[\s\S])/g, (_, esc) => {
      const hex = esc.trim();
      if (/^[0-9a-fA-F]+$/.test(hex) && hex.length === esc.trimEnd().length) {
        const code = parseInt(hex, 16);
        return code === 0 || code > 0x10ffff ? "\uFFFD" : String.fromCodePoint(code);
      }
      return esc === "\n" ? "" : esc;
    });
  }

  function readString(text, i) {
    // text[i] is the opening quote; returns [value, index after the closing quote].
    const quote = text[i];
    let j = i + 1;
    while (j < text.length && text[j] !== quote && text[j] !== "\n") {
      j += text[j] === "\\" ? 2 : 1;
    }
    return [unescapeCss(text.slice(i + 1, j)), Math.min(j + 1, text.length)];
  }

  function skipSpace(text, i) {
    while (i < text.length && /\s/.test(text[i])) {
      i++;
    }
    return i;
  }

  /**
   * Every URL in `text`, in order: {start, end, url, kind, context}.
   * [start, end) is the whole token to replace (`url(...)` or the @import / image-set string);
   * kind is "font" inside @font-face, "stylesheet" for @import, "image" otherwise.
   */
  function findCssUrls(text) {
    const found = [];
    let i = 0;
    let depth = 0; // block nesting
    let fontFaceDepth = -1; // depth of the current @font-face block, -1 outside
    let pendingAt = null; // at-rule seen, its block not opened yet
    let importExpected = false; // right after @import, before the first url
    const imageSetParens = []; // paren depths where an image-set() began
    let parens = 0;
    while (i < text.length) {
      const c = text[i];
      if (c === "/" && text[i + 1] === "*") {
        const close = text.indexOf("*/", i + 2);
        i = close < 0 ? text.length : close + 2;
        continue;
      }
      if (c === '"' || c === "'") {
        const [value, next] = readString(text, i);
        if (importExpected) {
          found.push({ start: i, end: next, url: value, kind: "stylesheet", context: "@import" });
          importExpected = false;
        } else if (imageSetParens.length > 0) {
          found.push({ start: i, end: next, url: value, kind: "image", context: "image-set" });
        }
        i = next;
        continue;
      }
      if (c === "@") {
        let j = i + 1;
        while (j < text.length && IDENT_CHAR.test(text[j])) {
          j++;
        }
        pendingAt = text.slice(i + 1, j).toLowerCase();
        importExpected = pendingAt === "import";
        i = j;
        continue;
      }
      if (c === "{") {
        depth++;
        if (pendingAt === "font-face" && fontFaceDepth < 0) {
          fontFaceDepth = depth;
        }
        pendingAt = null;
        importExpected = false;
        i++;
        continue;
      }
      if (c === "}") {
        if (depth === fontFaceDepth) {
          fontFaceDepth = -1;
        }
        depth = Math.max(0, depth - 1);
        i++;
        continue;
      }
      if (c === ";") {
        pendingAt = null;
        importExpected = false;
        i++;
        continue;
      }
      if (c === "(") {
        parens++;
        i++;
        continue;
      }
      if (c === ")") {
        if (imageSetParens.length && imageSetParens[imageSetParens.length - 1] === parens) {
          imageSetParens.pop();
        }
        parens = Math.max(0, parens - 1);
        i++;
        continue;
      }
      if (IDENT_CHAR.test(c) || c === "\\") {
        let j = i;
        while (j < text.length && (IDENT_CHAR.test(text[j]) || text[j] === "\\")) {
          j += text[j] === "\\" ? 2 : 1;
        }
        const name = unescapeCss(text.slice(i, j)).toLowerCase();
        if (text[j] === "(" && name === "url") {
          const token = readUrlToken(text, i, j + 1);
          if (token) {
            const kind = importExpected ? "stylesheet" : fontFaceDepth > 0 ? "font" : "image";
            const context = importExpected ? "@import" : fontFaceDepth > 0 ? "@font-face" : "url";
            found.push({ start: i, end: token.end, url: token.url, kind, context });
            importExpected = false;
            i = token.end;
            continue;
          }
        }
        if (text[j] === "(" && (name === "image-set" || name === "-webkit-image-set")) {
          parens++;
          imageSetParens.push(parens);
          i = j + 1;
          continue;
        }
        i = j;
        continue;
      }
      i++;
    }
    return found;
  }

  function readUrlToken(text, start, afterParen) {
    let i = skipSpace(text, afterParen);
    let url;
    if (text[i] === '"' || text[i] === "'") {
      const [value, next] = readString(text, i);
      url = value;
      i = skipSpace(text, next);
      if (text[i] !== ")") {
        return null; // not a well-formed url(): the browser ignores it, so do we
      }
      return { url, end: i + 1 };
    }
    let j = i;
    while (j < text.length && text[j] !== ")") {
      if (text[j] === "\\") {
        j += 2;
        continue;
      }
      if (/["'(\s]/.test(text[j])) {
        const k = skipSpace(text, j);
        if (text[k] === ")") {
          return { url: unescapeCss(text.slice(i, j)), end: k + 1 };
        }
        return null;
      }
      j++;
    }
    if (j >= text.length) {
      return null;
    }
    return { url: unescapeCss(text.slice(i, j)), end: j + 1 };
  }

  function quoteCssUrl(url) {
    return 'url("' + url.replace(/["\\\n\r\f]/g, (ch) => "\\" + ch.charCodeAt(0).toString(16) + " ") + '")';
  }

  /**
   * Rewrites `text`: replacer(entry) returns the new URL for that entry, or null to keep the token.
   * Tokens are replaced by a quoted url("..."), which is valid in every place a URL can be.
   */
  function rewriteCss(text, replacer, entries = findCssUrls(text)) {
    let out = "";
    let last = 0;
    for (const entry of entries) {
      const replacement = replacer(entry);
      if (replacement === null || replacement === undefined) {
        continue;
      }
      out += text.slice(last, entry.start) + quoteCssUrl(replacement);
      last = entry.end;
    }
    return out + text.slice(last);
  }

  global.pixelwardenCss = Object.freeze({ findCssUrls, rewriteCss, unescapeCss });
})(globalThis);
