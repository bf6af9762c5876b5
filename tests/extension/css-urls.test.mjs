// The CSS scanner shared by the display script and the background.
import { test } from "node:test";
import assert from "node:assert/strict";
import "../../extension/shared/css-urls.js";

const { findCssUrls, rewriteCss } = globalThis.pixelwardenCss;
const urls = (css) => findCssUrls(css).map((e) => [e.url, e.kind, e.context]);

test("finds url() in every form, @import, @font-face and image-set", () => {
  const css = `@import "a.css"; @import url(b.css) screen;
    .x{background:url( "c.png" ) no-repeat, URL('d.png')} .y{background:url(e\\.png)}
    @font-face{font-family:F;src:url(f.woff2) format("woff2"), url(f.woff)}
    .z{background-image:image-set("g.png" 1x, url(h.png) 2x)}`;
  assert.deepEqual(urls(css), [
    ["a.css", "stylesheet", "@import"],
    ["b.css", "stylesheet", "@import"],
    ["c.png", "image", "url"],
    ["d.png", "image", "url"],
    ["e.png", "image", "url"],
    ["f.woff2", "font", "@font-face"],
    ["f.woff", "font", "@font-face"],
    ["g.png", "image", "image-set"],
    ["h.png", "image", "url"],
  ]);
});

test("ignores comments, strings that are not URLs, and malformed url()", () => {
  assert.deepEqual(urls(`/* url(a.png) */ .a{content:"url(b.png)"} .c{background:url(c d.png)}`), []);
});

test("leaves the @font-face context at the end of its block", () => {
  assert.deepEqual(urls(`@font-face{src:url(a.woff)} .b{background:url(b.png)}`), [
    ["a.woff", "font", "@font-face"],
    ["b.png", "image", "url"],
  ]);
});

test("decodes CSS escapes", () => {
  assert.deepEqual(urls(`.a{background:url("h\\74tp://x.example/\\"q.png")}`), [['http://x.example/"q.png', "image", "url"]]);
});

test("rewrites chosen tokens with a quoted url() and keeps everything else", () => {
  const css = `.a{background:url(a.png)} .b{background:url(b.png)}`;
  assert.equal(rewriteCss(css, (e) => (e.url === "a.png" ? "data:image/png;base64,AA" : null)), `.a{background:url("data:image/png;base64,AA")} .b{background:url(b.png)}`);
});

test("a replacement cannot break out of its url() token", () => {
  const hostile = `x") } body{background:url("http://evil.example/`;
  const out = rewriteCss(`.a{background:url(a.png)}`, () => hostile);
  assert.deepEqual(findCssUrls(out).map((e) => e.url), [hostile], "one token, holding the whole text");
  assert.ok(out.endsWith(`")}`));
});
