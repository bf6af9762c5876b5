/* Pixel Warden message display script: runs in every displayed message.
 *
 * 1. Reports every remote reference of the rendered document, with its context, to the background.
 * 2. Puts back, as data: URLs, only what the background fetched (i.e. what the host allowed):
 *    a NEW <img> for images (setting src on an element Thunderbird blocked does not render),
 *    backgrounds, style attributes, <style> blocks, @font-face, linked stylesheets.
 * 3. Notices remote resources that loaded although it never put them back: Thunderbird's own
 *    remote-content exception is on for this message, and trackers may have loaded.
 * It builds DOM only from strings it controls; nothing from the message is parsed as HTML.
 */
"use strict";

(function pixelwardenDisplay() {
  const css = globalThis.pixelwardenCss;
  const port = browser.runtime.connect({ name: "pixelwarden-display" });
  const sites = new Map(); // absolute url -> [{el, how, ...}]
  const ownImages = new WeakSet(); // the <img> elements this script created
  const injectedUrls = new Set();
  const originalCss = new Map(); // element -> original text (style attribute or <style> content)
  const cssData = new Map(); // absolute url -> data: URL, for css rewriting
  const sheetsPut = new Map(); // stylesheet url -> the <style> element we inserted

  function absolute(raw, base) {
    if (typeof raw !== "string" || raw.trim() === "") return null;
    try {
      const url = new URL(raw.trim(), base || document.baseURI || undefined);
      if (url.protocol !== "http:" && url.protocol !== "https:") return null;
      url.hash = "";
      return url.href;
    } catch {
      return null;
    }
  }

  function parseSrcset(value) {
    // Candidates are "url [descriptor]" separated by commas; a URL may itself contain commas.
    const out = [];
    const re = /\s*([^\s]+)(?:\s+([^,]*))?\s*(?:,|$)/g;
    let m;
    while ((m = re.exec(value)) !== null && m[0] !== "") {
      let url = m[1];
      let descriptor = (m[2] || "").trim();
      if (url.endsWith(",")) {
        url = url.replace(/,+$/, "");
        descriptor = "";
      }
      const d = descriptor.match(/^([\d.]+)([wx])$/);
      out.push(d && d[2] === "w" ? { url, width: parseFloat(d[1]) } : { url, density: d ? parseFloat(d[1]) : 1 });
    }
    return out;
  }

  /**
   * The candidates of one image, best first, as the browser would pick them: the first <source> of a
   * <picture> whose media matches, then the image's own srcset and src; within each, the smallest
   * density that covers the screen's scale, else the largest. Only the best allowed one is fetched.
   */
  function imageCandidates(img) {
    const scale = (typeof window !== "undefined" && window.devicePixelRatio) || 1;
    const layout = (img.getBoundingClientRect && Math.round(img.getBoundingClientRect().width)) || parseInt(img.getAttribute("width") || "0", 10) || 0;
    const rank = (list) =>
      list
        .map((c) => ({ ...c, d: c.width ? c.width / (layout || 1000) : c.density }))
        .sort((a, b) => {
          const aCovers = a.d >= scale;
          const bCovers = b.d >= scale;
          if (aCovers !== bCovers) return aCovers ? -1 : 1;
          return aCovers ? a.d - b.d : b.d - a.d;
        });
    const out = [];
    const picture = img.parentElement && img.parentElement.localName === "picture" ? img.parentElement : null;
    if (picture) {
      for (const source of picture.querySelectorAll("source")) {
        const media = source.getAttribute("media");
        const matches = !media || typeof window === "undefined" || !window.matchMedia || window.matchMedia(media).matches;
        const list = parseSrcset(source.getAttribute("srcset") || "");
        if (matches && list.length) {
          out.push(...rank(list).map((c) => ({ ...c, attribute: "srcset", how: "img-srcset", source })));
          break;
        }
      }
    }
    const own = img.hasAttribute("srcset") ? parseSrcset(img.getAttribute("srcset")).map((c) => ({ ...c, attribute: "srcset", how: "img-srcset" })) : [];
    if ((img.getAttribute("src") || "").trim() !== "") own.push({ url: img.getAttribute("src"), density: 1, attribute: "src", how: "img-src" });
    out.push(...rank(own));
    return out;
  }

  function geometry(el) {
    const rect = el.getBoundingClientRect ? el.getBoundingClientRect() : { width: 0, height: 0 };
    let hidden = false;
    if (typeof el.checkVisibility === "function") {
      hidden = !el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true });
    }
    return { width: Math.round(rect.width), height: Math.round(rect.height), hidden };
  }

  function quoted(el) {
    return el.closest ? el.closest('blockquote[type="cite"]') !== null : false;
  }

  const refs = [];
  let nextGroup = 1;
  function report(el, attribute, url, kind, how, extra, candidate) {
    if (!url) return;
    const tag = el.localName || "style";
    const g = how === "style-el" ? { width: null, height: null, hidden: false } : geometry(el);
    const ref = { url, element: tag, attribute, width: g.width, height: g.height, hidden: g.hidden, quoted: quoted(el), kind };
    if (candidate) Object.assign(ref, candidate); // {group, rank}: alternatives of one image, best first
    refs.push(ref);
    if (!sites.has(url)) sites.set(url, []);
    sites.get(url).push(Object.assign({ el, how }, extra || {}));
  }

  function scanCss(el, text, how, attribute) {
    for (const entry of css.findCssUrls(text)) {
      const url = absolute(entry.url);
      report(el, how === "style-el" ? entry.context : attribute, url, entry.kind, how);
    }
    if (!originalCss.has(el)) originalCss.set(el, text);
  }

  const MEDIA = { video: "media", audio: "media", object: "object", embed: "object", iframe: "frame", frame: "frame" };

  function collect() {
    for (const el of document.querySelectorAll("*")) {
      const tag = el.localName;
      if (tag === "img") {
        const group = nextGroup++;
        for (const [rankIndex, c] of imageCandidates(el).entries()) {
          const url = absolute(c.url);
          // A local candidate (cid:, data:) ranked before the remote ones is what shows: stop there.
          if (!url) break;
          report(el, c.attribute, url, "image", c.how, { weight: -rankIndex, source: c.source }, { group, rank: rankIndex });
        }
      } else if (tag === "input" && (el.getAttribute("type") || "").toLowerCase() === "image") {
        report(el, "src", absolute(el.getAttribute("src")), "image", "img-src", { weight: 0 });
      } else if (tag === "link") {
        const rel = (el.getAttribute("rel") || "").toLowerCase().split(/\s+/);
        if (rel.includes("stylesheet")) report(el, "href", absolute(el.getAttribute("href")), "stylesheet", "link");
      } else if (tag === "style") {
        scanCss(el, el.textContent || "", "style-el", "url");
      } else if (tag === "image" && el.namespaceURI === "http://www.w3.org/2000/svg") {
        const href = el.getAttribute("href") || el.getAttributeNS("http://www.w3.org/1999/xlink", "href");
        report(el, "href", absolute(href), "image", "svg-href");
      } else if (MEDIA[tag]) {
        if (tag === "video" && el.hasAttribute("poster")) report(el, "poster", absolute(el.getAttribute("poster")), "image", "poster");
        const attr = tag === "object" ? "data" : "src";
        report(el, attr, absolute(el.getAttribute(attr)), MEDIA[tag], "never");
        for (const source of tag === "video" || tag === "audio" ? el.querySelectorAll("source") : []) {
          report(source, "src", absolute(source.getAttribute("src")), "media", "never");
        }
      }
      if (el.hasAttribute("background")) {
        report(el, "background", absolute(el.getAttribute("background")), "image", "background-attr");
      }
      const style = el.getAttribute("style");
      if (style && /url\(|image-set\(/i.test(style)) scanCss(el, style, "style-attr", "style");
    }
  }

  // ---- putting back -------------------------------------------------------------------------

  function replaceImage(current, dataUrl, original) {
    // A new element: Thunderbird does not render a new src set on the element it blocked.
    const img = document.createElement("img");
    for (const attr of original.attributes) {
      if (!["src", "srcset", "sizes", "loading"].includes(attr.name)) img.setAttribute(attr.name, attr.value);
    }
    img.setAttribute("src", dataUrl);
    ownImages.add(img);
    current.replaceWith(img);
    return img;
  }

  // original <img> -> {el: what the document shows now, candidates: url -> {weight, dataUrl}, shown: url}
  const imageState = new Map();
  const savedAttributes = new Map(); // element -> {attribute: original value}, for undo

  /** Shows the best candidate put back so far, or the original (blocked) element when none is left. */
  function showBestImage(original) {
    const state = imageState.get(original);
    let best = null;
    for (const [url, c] of state.candidates) {
      if (!best || c.weight > best.weight) best = { url, dataUrl: c.dataUrl, weight: c.weight };
    }
    if (state.shown === (best && best.url)) return;
    state.shown = best ? best.url : null;
    if (original.localName === "input") {
      original.setAttribute("src", best ? best.dataUrl : savedAttributes.get(original).src);
      return;
    }
    if (best) {
      state.el = replaceImage(state.el, best.dataUrl, original);
    } else if (state.el !== original) {
      state.el.replaceWith(original);
      state.el = original;
    }
  }

  function imageSite(site) {
    const original = site.el;
    if (!imageState.has(original)) {
      imageState.set(original, { el: original, candidates: new Map(), shown: null });
      if (original.localName === "input") savedAttributes.set(original, { src: original.getAttribute("src") });
    }
    return imageState.get(original);
  }

  function putImage(site, url, dataUrl) {
    const state = imageSite(site);
    if (site.source) site.source.remove(); // a <picture> source would win over our <img>
    state.candidates.set(url, { weight: site.weight, dataUrl });
    showBestImage(site.el);
  }

  function saveAttribute(el, name) {
    const saved = savedAttributes.get(el) || {};
    if (!(name in saved)) saved[name] = el.getAttribute(name);
    savedAttributes.set(el, saved);
  }

  function restoreAttribute(el, name) {
    const saved = savedAttributes.get(el);
    if (!saved || !(name in saved)) return;
    if (saved[name] === null) el.removeAttribute(name);
    else el.setAttribute(name, saved[name]);
  }

  function rewriteCssOf(el, how) {
    const text = originalCss.get(el);
    const rewritten = css.rewriteCss(text, (entry) => {
      const url = absolute(entry.url);
      return url && cssData.has(url) ? cssData.get(url) : null;
    });
    if (how === "style-attr") el.setAttribute("style", rewritten);
    else el.textContent = rewritten;
  }

  function inject(url, dataUrl) {
    const list = sites.get(url) || [];
    cssData.set(url, dataUrl);
    const images = [];
    for (const site of list) {
      switch (site.how) {
        case "img-src":
        case "img-srcset":
          putImage(site, url, dataUrl);
          if (imageState.get(site.el).el.localName === "img") images.push(imageState.get(site.el).el);
          break;
        case "background-attr":
          saveAttribute(site.el, "style");
          site.el.style.setProperty("background-image", 'url("' + dataUrl + '")');
          break;
        case "style-attr":
        case "style-el":
          rewriteCssOf(site.el, site.how);
          break;
        case "poster":
          saveAttribute(site.el, "poster");
          site.el.setAttribute("poster", dataUrl);
          break;
        case "svg-href":
          saveAttribute(site.el, "href");
          site.el.setAttribute("href", dataUrl);
          break;
        default:
          break; // media, frames, objects: never put back
      }
    }
    injectedUrls.add(url);
    // For images, acknowledge once decoded, saying whether they rendered (the end-to-end run checks it).
    const pending = images.filter((img) => !img.complete);
    const done = () => port.postMessage({ type: "injected", url, rendered: images.length ? images.every((img) => img.naturalWidth > 0) : null });
    if (pending.length === 0) {
      done();
    } else {
      let left = pending.length;
      for (const img of pending) {
        const once = () => --left === 0 && done();
        img.addEventListener("load", once, { once: true });
        img.addEventListener("error", once, { once: true });
      }
    }
  }

  function putStylesheet(url, cssText, inlined) {
    for (const site of sites.get(url) || []) {
      if (site.how !== "link") continue;
      let style = sheetsPut.get(url);
      if (!style) {
        style = document.createElement("style");
        site.el.after(style);
        sheetsPut.set(url, style);
      }
      style.textContent = cssText; // CSS from an allowed sheet, every url() inlined or neutralised
    }
    for (const done of [url, ...inlined]) {
      injectedUrls.add(done);
      port.postMessage({ type: "injected", url: done });
    }
  }

  /** Undo: takes back what was put back for `url` (the user revoked the choice that allowed it). */
  function revert(url) {
    cssData.delete(url);
    injectedUrls.delete(url);
    for (const site of sites.get(url) || []) {
      switch (site.how) {
        case "img-src":
        case "img-srcset":
          if (imageState.has(site.el)) {
            imageState.get(site.el).candidates.delete(url);
            showBestImage(site.el);
          }
          break;
        case "background-attr":
          restoreAttribute(site.el, "style");
          break;
        case "style-attr":
        case "style-el":
          rewriteCssOf(site.el, site.how);
          break;
        case "poster":
          restoreAttribute(site.el, "poster");
          break;
        case "svg-href":
          restoreAttribute(site.el, "href");
          break;
        case "link":
          if (sheetsPut.has(url)) {
            sheetsPut.get(url).remove();
            sheetsPut.delete(url);
          }
          break;
        default:
          break;
      }
    }
    port.postMessage({ type: "reverted", url });
  }

  // ---- what loaded without us -----------------------------------------------------------------

  function loadedWithoutUs() {
    const urls = new Set();
    for (const img of document.images) {
      if (ownImages.has(img)) continue;
      const url = absolute(img.currentSrc || img.getAttribute("src"));
      if (url && img.complete && img.naturalWidth > 0) urls.add(url);
    }
    if (typeof performance !== "undefined" && performance.getEntriesByType) {
      for (const entry of performance.getEntriesByType("resource")) {
        const url = absolute(entry.name);
        if (url && !injectedUrls.has(url)) urls.add(url);
      }
    }
    return [...urls];
  }

  function reportLoaded() {
    const urls = loadedWithoutUs();
    port.postMessage({ type: "thunderbird-loaded", urls });
  }

  port.onMessage.addListener((message) => {
    if (!message || typeof message !== "object") return;
    if (message.type === "inject" && typeof message.url === "string" && /^data:/.test(message.dataUrl)) {
      inject(message.url, message.dataUrl);
    } else if (message.type === "stylesheet" && typeof message.url === "string" && typeof message.cssText === "string") {
      putStylesheet(message.url, message.cssText, Array.isArray(message.inlined) ? message.inlined.filter((u) => typeof u === "string") : []);
    } else if (message.type === "revert" && Array.isArray(message.urls)) {
      message.urls.filter((u) => typeof u === "string").forEach(revert);
    } else if (message.type === "report-loaded") {
      reportLoaded();
    }
  });

  collect();
  port.postMessage({ type: "references", refs });
  if (document.readyState === "complete") reportLoaded();
  else window.addEventListener("load", reportLoaded, { once: true });
})();
