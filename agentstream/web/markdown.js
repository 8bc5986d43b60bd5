/**
 * A small, safe Markdown renderer for streamed model output.
 *
 * It builds DOM nodes with createElement and textContent only, never innerHTML, so nothing the
 * model writes can become markup: `<img onerror=...>` stays text. Links keep only http, https and
 * mailto URLs. Text that is still streaming renders sensibly: an unclosed code fence is code up to
 * the end, an unclosed `**` is plain text.
 *
 * Supported: paragraphs (line breaks kept), ATX headings, fenced code, block quotes, ordered and
 * unordered lists, horizontal rules, and inline code, bold, italic, strikethrough and links.
 */

const SAFE_URL = /^(https?:|mailto:)/i;

const INLINE = [
  { kind: "code", pattern: /`([^`\n]+)`/ },
  { kind: "link", pattern: /\[([^\]\n]+)\]\(([^)\s]+)\)/ },
  { kind: "strong", pattern: /\*\*(?=\S)([^\n]*?\S)\*\*|__(?=\S)([^\n]*?\S)__/ },
  { kind: "del", pattern: /~~(?=\S)([^\n]*?\S)~~/ },
  { kind: "em", pattern: /\*(?=[^\s*])([^*\n]*?[^\s*])\*|(?<![\w])_(?=[^\s_])([^_\n]*?[^\s_])_(?![\w])/ },
];

/** Render `text` into a DocumentFragment. */
export function renderMarkdown(text, doc = document) {
  const fragment = doc.createDocumentFragment();
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let index = 0;
  while (index < lines.length) {
    const line = lines[index];
    const fence = line.match(/^\s*(```|~~~)\s*([\w+-]*)\s*$/);
    if (fence) {
      const code = [];
      index += 1;
      while (index < lines.length && !lines[index].trim().startsWith(fence[1])) code.push(lines[index++]);
      index += 1;
      const pre = doc.createElement("pre");
      const element = doc.createElement("code");
      if (fence[2]) element.dataset.language = fence[2];
      element.textContent = code.join("\n");
      pre.append(element);
      fragment.append(pre);
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      const element = doc.createElement(`h${heading[1].length}`);
      appendInline(element, heading[2].replace(/\s+#+\s*$/, ""), doc);
      fragment.append(element);
      index += 1;
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      fragment.append(doc.createElement("hr"));
      index += 1;
      continue;
    }
    if (/^\s*>/.test(line)) {
      const quoted = [];
      while (index < lines.length && /^\s*>/.test(lines[index])) quoted.push(lines[index++].replace(/^\s*>\s?/, ""));
      const element = doc.createElement("blockquote");
      element.append(renderMarkdown(quoted.join("\n"), doc));
      fragment.append(element);
      continue;
    }
    const item = listItem(line);
    if (item) {
      const list = doc.createElement(item.ordered ? "ol" : "ul");
      if (item.ordered && item.start !== 1) list.start = item.start;
      while (index < lines.length) {
        const next = listItem(lines[index]);
        if (!next || next.ordered !== item.ordered) break;
        const element = doc.createElement("li");
        appendInline(element, next.text, doc);
        list.append(element);
        index += 1;
      }
      fragment.append(list);
      continue;
    }
    if (line.trim() === "") {
      index += 1;
      continue;
    }
    const paragraph = [];
    while (index < lines.length && lines[index].trim() !== "" && !startsBlock(lines[index])) paragraph.push(lines[index++]);
    const element = doc.createElement("p");
    paragraph.forEach((text, position) => {
      if (position > 0) element.append(doc.createElement("br"));
      appendInline(element, text, doc);
    });
    fragment.append(element);
  }
  return fragment;
}

function listItem(line) {
  const bullet = line.match(/^\s*[-*+]\s+(.*)$/);
  if (bullet) return { ordered: false, text: bullet[1] };
  const numbered = line.match(/^\s*(\d{1,9})[.)]\s+(.*)$/);
  if (numbered) return { ordered: true, start: Number(numbered[1]), text: numbered[2] };
  return null;
}

function startsBlock(line) {
  return /^\s*(```|~~~)/.test(line) || /^#{1,6}\s/.test(line) || /^\s*>/.test(line) || listItem(line) !== null;
}

/** Append `text` with its inline formatting to `parent`: the earliest match wins, text around it stays text. */
function appendInline(parent, text, doc) {
  let rest = text;
  while (rest) {
    let best = null;
    for (const rule of INLINE) {
      const match = rule.pattern.exec(rest);
      if (match && (best === null || match.index < best.match.index)) best = { rule, match };
    }
    if (best === null) {
      parent.append(doc.createTextNode(rest));
      return;
    }
    const { rule, match } = best;
    if (match.index > 0) parent.append(doc.createTextNode(rest.slice(0, match.index)));
    parent.append(inlineNode(rule.kind, match, doc));
    rest = rest.slice(match.index + match[0].length);
  }
}

function inlineNode(kind, match, doc) {
  if (kind === "code") {
    const element = doc.createElement("code");
    element.textContent = match[1];
    return element;
  }
  if (kind === "link") {
    const [, label, href] = match;
    if (!SAFE_URL.test(href)) return doc.createTextNode(match[0]);
    const element = doc.createElement("a");
    element.href = href;
    element.rel = "noopener noreferrer nofollow";
    element.target = "_blank";
    appendInline(element, label, doc);
    return element;
  }
  const element = doc.createElement(kind);
  appendInline(element, match[1] ?? match[2], doc);
  return element;
}
