// The message display script in a tiny DOM: what it reports and how it puts resources back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import vm from "node:vm";
import { parseHTML } from "linkedom";
import { EXTENSION_DIR, FakeEvent } from "./fake-messenger.mjs";

const DATA = "data:image/png;base64,iVBORw0KGgo=";

function runDisplayScript(html) {
  const { window, document } = parseHTML(html);
  if (!("images" in document)) Object.defineProperty(document, "images", { get: () => document.querySelectorAll("img") });
  const sent = [];
  const port = { onMessage: new FakeEvent(), postMessage: (m) => sent.push(structuredClone(m)) };
  const sandbox = { document, window, URL, console, browser: { runtime: { connect: ({ name }) => ((port.name = name), port) } } };
  vm.createContext(sandbox);
  for (const file of ["shared/css-urls.js", "display/display.js"]) {
    vm.runInContext(readFileSync(path.join(EXTENSION_DIR, file), "utf8"), sandbox, { filename: file });
  }
  const deliver = (message) => port.onMessage.dispatch(message);
  return { document, sent, deliver, port };
}

const PAGE = `<!DOCTYPE html><html><head>
<link rel="stylesheet" href="https://img.shop.example/main.css">
<style>.hero{background:url(https://img.shop.example/hero.png)} @font-face{font-family:F;src:url(https://img.shop.example/f.woff2)}</style>
</head><body>
<img id="logo" class="logo" alt="Logo" width="200" src="https://img.shop.example/logo.png">
<img id="resp" srcset="https://img.shop.example/s1.png 1x, https://img.shop.example/s2.png 2x" alt="r">
<div id="box" style="color:red;background-image:url('https://img.shop.example/div.png')">x</div>
<table><tr><td id="cell" background="https://img.shop.example/td.png">c</td></tr></table>
<blockquote type="cite"><img src="https://quoted.example/q.png"></blockquote>
<video poster="https://img.shop.example/poster.png" src="https://media.example/v.mp4"></video>
<iframe src="https://frame.example/"></iframe>
<img src="cid:part1@local"><img src="data:image/gif;base64,R0lGOD=">
</body></html>`;

test("reports every remote reference with its element, attribute and kind", () => {
  const { sent, port } = runDisplayScript(PAGE);
  assert.equal(port.name, "pixelwarden-display");
  const [report] = sent;
  assert.equal(report.type, "references");
  const seen = report.refs.map((r) => [r.url, r.element, r.attribute, r.kind]);
  assert.deepEqual(seen, [
    ["https://img.shop.example/main.css", "link", "href", "stylesheet"],
    ["https://img.shop.example/hero.png", "style", "url", "image"],
    ["https://img.shop.example/f.woff2", "style", "@font-face", "font"],
    ["https://img.shop.example/logo.png", "img", "src", "image"],
    ["https://img.shop.example/s1.png", "img", "srcset", "image"],
    ["https://img.shop.example/s2.png", "img", "srcset", "image"],
    ["https://img.shop.example/div.png", "div", "style", "image"],
    ["https://img.shop.example/td.png", "td", "background", "image"],
    ["https://quoted.example/q.png", "img", "src", "image"],
    ["https://img.shop.example/poster.png", "video", "poster", "image"],
    ["https://media.example/v.mp4", "video", "src", "media"],
    ["https://frame.example/", "iframe", "src", "frame"],
  ]);
  assert.equal(report.refs.find((r) => r.url.includes("quoted")).quoted, true);
  assert.equal(report.refs.find((r) => r.url.includes("logo")).quoted, false);
});

test("an allowed image comes back as a NEW element with the old attributes and a data: src", () => {
  const { document, sent, deliver } = runDisplayScript(PAGE);
  const old = document.getElementById("logo");
  deliver({ type: "inject", url: "https://img.shop.example/logo.png", dataUrl: DATA });
  const now = document.getElementById("logo");
  assert.notEqual(now, old, "a new element");
  assert.equal(now.getAttribute("src"), DATA);
  assert.equal(now.getAttribute("class"), "logo");
  assert.equal(now.getAttribute("alt"), "Logo");
  assert.equal(now.getAttribute("width"), "200");
  assert.notEqual(sent.at(-1).type, "injected", "acknowledged only once the image has decoded");
  Object.defineProperty(now, "naturalWidth", { value: 200 });
  now.dispatchEvent(new document.defaultView.Event("load"));
  assert.deepEqual(sent.at(-1), { type: "injected", url: "https://img.shop.example/logo.png", rendered: true });
});

test("srcset: candidates are ranked as the browser would pick them (scale 1 here: 1x first)", () => {
  const { sent } = runDisplayScript(PAGE);
  const candidates = sent[0].refs.filter((r) => r.url.includes("/s"));
  assert.deepEqual(candidates.map((r) => [r.url.split("/").pop(), r.rank]), [["s1.png", 0], ["s2.png", 1]]);
  assert.equal(candidates[0].group, candidates[1].group);
});

test("srcset: the best candidate put back wins, and the new image has no remote srcset", () => {
  const { document, deliver } = runDisplayScript(PAGE);
  deliver({ type: "inject", url: "https://img.shop.example/s2.png", dataUrl: DATA + "2" });
  assert.equal(document.getElementById("resp").getAttribute("src"), DATA + "2");
  deliver({ type: "inject", url: "https://img.shop.example/s1.png", dataUrl: DATA + "1" });
  const img = document.getElementById("resp");
  assert.equal(img.getAttribute("src"), DATA + "1");
  assert.equal(img.hasAttribute("srcset"), false);
  assert.equal(document.querySelectorAll("#resp").length, 1);
});

test("style attributes and <style> blocks are rewritten; other url()s stay untouched", () => {
  const { document, deliver } = runDisplayScript(PAGE);
  deliver({ type: "inject", url: "https://img.shop.example/div.png", dataUrl: DATA });
  assert.equal(document.getElementById("box").getAttribute("style"), `color:red;background-image:url("${DATA}")`);
  deliver({ type: "inject", url: "https://img.shop.example/f.woff2", dataUrl: "data:font/woff2;base64,d09GMg==" });
  const style = document.querySelector("style").textContent;
  assert.match(style, /src:url\("data:font\/woff2;base64,d09GMg=="\)/);
  assert.match(style, /url\(https:\/\/img\.shop\.example\/hero\.png\)/, "not put back: unchanged (Thunderbird keeps it blocked)");
});

test("a stylesheet comes back as a <style> after its <link>, once, updated in place", () => {
  const { document, sent, deliver } = runDisplayScript(PAGE);
  deliver({ type: "stylesheet", url: "https://img.shop.example/main.css", cssText: ".a{color:blue}" });
  deliver({ type: "stylesheet", url: "https://img.shop.example/main.css", cssText: ".a{color:green}", inlined: ["https://img.shop.example/in.png"] });
  assert.deepEqual(sent.slice(-2), [
    { type: "injected", url: "https://img.shop.example/main.css" },
    { type: "injected", url: "https://img.shop.example/in.png" },
  ]);
  const link = document.querySelector("link");
  assert.equal(link.nextElementSibling.localName, "style");
  assert.equal(link.nextElementSibling.textContent, ".a{color:green}");
  assert.equal(document.querySelectorAll("style").length, 2);
});

test("media, frames and non-data payloads are never put in the document", () => {
  const { document, deliver } = runDisplayScript(PAGE);
  deliver({ type: "inject", url: "https://frame.example/", dataUrl: DATA });
  deliver({ type: "inject", url: "https://img.shop.example/logo.png", dataUrl: "javascript:alert(1)" });
  assert.equal(document.querySelector("iframe").getAttribute("src"), "https://frame.example/");
  assert.equal(document.getElementById("logo").getAttribute("src"), "https://img.shop.example/logo.png");
});

test("reports images that loaded without it (Thunderbird's own exception)", () => {
  const { document, sent, deliver } = runDisplayScript(PAGE);
  const logo = document.getElementById("logo");
  Object.defineProperty(logo, "complete", { value: true });
  Object.defineProperty(logo, "naturalWidth", { value: 200 });
  deliver({ type: "report-loaded" });
  const report = sent.filter((m) => m.type === "thunderbird-loaded").at(-1);
  assert.deepEqual(report.urls, ["https://img.shop.example/logo.png"]);
});

test("undo: what was put back is taken back, the blocked original returns", () => {
  const { document, sent, deliver } = runDisplayScript(PAGE);
  const original = document.getElementById("logo");
  deliver({ type: "inject", url: "https://img.shop.example/logo.png", dataUrl: DATA });
  deliver({ type: "inject", url: "https://img.shop.example/div.png", dataUrl: DATA });
  deliver({ type: "inject", url: "https://img.shop.example/td.png", dataUrl: DATA });
  deliver({ type: "stylesheet", url: "https://img.shop.example/main.css", cssText: ".a{}" });
  deliver({ type: "revert", urls: ["https://img.shop.example/logo.png", "https://img.shop.example/div.png", "https://img.shop.example/td.png", "https://img.shop.example/main.css"] });
  assert.equal(document.getElementById("logo"), original);
  assert.equal(original.getAttribute("src"), "https://img.shop.example/logo.png");
  assert.equal(document.getElementById("box").getAttribute("style"), "color:red;background-image:url('https://img.shop.example/div.png')");
  assert.equal(document.getElementById("cell").hasAttribute("style"), false);
  assert.equal(document.querySelectorAll("style").length, 1);
  assert.equal(sent.filter((m) => m.type === "reverted").length, 4);
});

test("undo of one srcset candidate falls back to the next best one put back", () => {
  const { document, deliver } = runDisplayScript(PAGE);
  deliver({ type: "inject", url: "https://img.shop.example/s1.png", dataUrl: DATA + "1" });
  deliver({ type: "inject", url: "https://img.shop.example/s2.png", dataUrl: DATA + "2" });
  deliver({ type: "revert", urls: ["https://img.shop.example/s1.png"] });
  assert.equal(document.getElementById("resp").getAttribute("src"), DATA + "2");
});

test("an image input is put back in place (its src), acknowledged without a decode check", () => {
  const { document, sent, deliver } = runDisplayScript(`<html><body><form><input id="go" type="image" src="https://img.shop.example/go.gif" alt="Go"></form></body></html>`);
  assert.deepEqual(sent[0].refs.map((r) => [r.element, r.attribute]), [["input", "src"]]);
  deliver({ type: "inject", url: "https://img.shop.example/go.gif", dataUrl: DATA });
  assert.equal(document.getElementById("go").getAttribute("src"), DATA);
  assert.deepEqual(sent.at(-1), { type: "injected", url: "https://img.shop.example/go.gif", rendered: null });
  deliver({ type: "revert", urls: ["https://img.shop.example/go.gif"] });
  assert.equal(document.getElementById("go").getAttribute("src"), "https://img.shop.example/go.gif");
});

test("a local image (cid:) that the browser would pick first is left alone: its remote alternatives are not reported", () => {
  const { sent } = runDisplayScript(`<html><body><img src="cid:logo@local" srcset="https://cdn.example/logo@2x.png 2x"><img src="https://a.example/1.png"><img src="" srcset="https://a.example/2.png 2x"></body></html>`);
  assert.deepEqual(sent[0].refs.map((r) => r.url), ["https://a.example/1.png", "https://a.example/2.png"]);
});
