// Typesets the math in titles and abstracts (elements marked data-math) with the vendored KaTeX:
// $...$ and \(...\) inline, $$...$$ and \[...\] displayed. Only text nodes are read and only
// text nodes are replaced (never innerHTML), so text outside math stays text. A formula KaTeX
// cannot parse, or one using a refused command, stays as written. KaTeX is loaded only on pages
// that have something to typeset; the script tag names its folder in data-katex.
"use strict";

(function () {
  const script = document.currentScript;
  const base = script && script.dataset.katex;
  const MAX_TEX = 2000; // longer "formulas" are most likely a stray $: leave them as text
  // Commands that link, set HTML attributes, load images or define macros are never rendered.
  const REFUSED = new RegExp(
    "\\\\(?:href|url|htmlClass|htmlId|htmlStyle|htmlData|html[A-Za-z]*|includegraphics|" +
      "def|gdef|edef|xdef|newcommand|renewcommand|providecommand|let|futurelet|global|" +
      "csname|expandafter)(?![A-Za-z])",
  );
  const OPTIONS = {
    throwOnError: true, // caught below: the formula stays as source
    trust: false,
    strict: "ignore",
    maxExpand: 100,
    maxSize: 10,
    output: "htmlAndMathml", // MathML for screen readers, HTML (aria-hidden) for the eye
  };
  const OPENERS = [
    ["$$", "$$", true],
    ["\\[", "\\]", true],
    ["\\(", "\\)", false],
    ["$", "$", false],
  ];

  function isSpace(ch) {
    return ch === undefined || /\s/.test(ch);
  }

  /** Where `close` ends the formula that starts at `from`, or -1. Backslash pairs (\$, \\)
   * never close; a single $ closes only after a non-space and not before a digit (pandoc's
   * rule, so that "costs $5 and $10" stays text). */
  function closing(text, from, close) {
    for (let j = from; j < text.length; j++) {
      if (close[0] === "\\" && text.startsWith(close, j)) return j;
      if (text[j] === "\\") {
        j++;
        continue;
      }
      if (!text.startsWith(close, j)) continue;
      if (close === "$") {
        if (text[j + 1] === "$") return -1; // "$a$$": ambiguous, leave it alone
        if (isSpace(text[j - 1]) || /[0-9]/.test(text[j + 1] || "")) continue;
      }
      return j;
    }
    return -1;
  }

  /** The text cut into plain strings and formulas {tex, display, source}. */
  function split(text) {
    const parts = [];
    let plain = "";
    let i = 0;
    while (i < text.length) {
      const opener = OPENERS.find(([open]) => text.startsWith(open, i));
      if (!opener) {
        // An escaped character (\$, \\) is plain text and never opens anything.
        const step = text[i] === "\\" ? 2 : 1;
        plain += text.slice(i, i + step);
        i += step;
        continue;
      }
      const [open, close, display] = opener;
      const start = i + open.length;
      const single = open === "$";
      const end = single && isSpace(text[start]) ? -1 : closing(text, start, close);
      if (end <= start) {
        plain += open;
        i = start;
        continue;
      }
      if (plain) parts.push(plain);
      plain = "";
      const tex = text.slice(start, end);
      parts.push({ tex, display, source: text.slice(i, end + close.length) });
      i = end + close.length;
    }
    if (plain) parts.push(plain);
    return parts;
  }

  /** A span with the typeset formula, or null when it must stay as source. */
  function typeset(formula) {
    const tex = formula.tex;
    if (!tex.trim() || tex.length > MAX_TEX || REFUSED.test(tex)) return null;
    const span = document.createElement("span");
    span.className = formula.display ? "math math-display" : "math";
    try {
      window.katex.render(tex, span, Object.assign({ displayMode: formula.display }, OPTIONS));
    } catch (e) {
      return null;
    }
    return span;
  }

  function typesetNode(node) {
    const parts = split(node.nodeValue);
    if (!parts.some((part) => typeof part !== "string")) return;
    const fragment = document.createDocumentFragment();
    let text = "";
    for (const part of parts) {
      const span = typeof part === "string" ? null : typeset(part);
      if (span === null) {
        text += typeof part === "string" ? part : part.source;
        continue;
      }
      if (text) fragment.append(document.createTextNode(text));
      text = "";
      fragment.append(span);
    }
    if (text) fragment.append(document.createTextNode(text));
    node.replaceWith(fragment);
  }

  const MAYBE_MATH = /\$|\\\(|\\\[/;

  function textNodes(element) {
    const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    const found = [];
    while (walker.nextNode()) {
      if (MAYBE_MATH.test(walker.currentNode.nodeValue)) found.push(walker.currentNode);
    }
    return found;
  }

  /** Displayed formulas wider than their box scroll sideways: those take keyboard focus. */
  function markScrollable() {
    document.querySelectorAll(".math-display").forEach((box) => {
      if (box.scrollWidth > box.clientWidth + 1) box.tabIndex = 0;
      else box.removeAttribute("tabindex");
    });
  }

  function typesetAll(elements) {
    for (const element of elements) textNodes(element).forEach(typesetNode);
    markScrollable();
    let resizeTimer = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(markScrollable, 150);
    });
    document.fonts.ready.then(markScrollable);
    document.documentElement.classList.add("math-done");
    document.dispatchEvent(new Event("sanity:math"));
  }

  function load(tag, attributes) {
    return new Promise((resolve, reject) => {
      const element = document.createElement(tag);
      Object.assign(element, attributes);
      element.addEventListener("load", resolve);
      element.addEventListener("error", reject);
      document.head.append(element);
    });
  }

  const elements = Array.from(document.querySelectorAll("[data-math]")).filter((el) =>
    MAYBE_MATH.test(el.textContent),
  );
  if (!elements.length || !base) {
    document.documentElement.classList.add("math-done"); // nothing to typeset
    return;
  }
  Promise.all([
    load("link", { rel: "stylesheet", href: base + "katex.min.css" }),
    load("script", { src: base + "katex.min.js" }),
  ]).then(
    () => typesetAll(elements),
    () => document.documentElement.classList.add("math-done"), // offline: the source stays
  );
})();
