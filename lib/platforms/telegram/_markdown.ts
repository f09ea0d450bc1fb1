/**
 * The agent's markdown as a tree of markdown-it tokens, rendered either as
 * Telegram HTML or as plain text. markdown-it (CommonMark, raw HTML off) does
 * the parsing, so unclosed `**`, stray `_`, `(` and `<` are plain text by its
 * rules, never a broken tag; this file only decides what each construct looks
 * like in a chat.
 *
 * @module
 */

import MarkdownIt from "markdown-it";

/** The parts of a markdown-it `Token` this renderer reads (the package ships no types). */
interface Token {
  readonly type: string;
  readonly tag: string;
  readonly nesting: number;
  readonly content: string;
  readonly markup: string;
  readonly info: string;
  readonly hidden: boolean;
  readonly children: Token[] | null;
  attrGet(name: string): string | null;
}

interface Node {
  /** The token type without `_open` (`paragraph`, `bullet_list`, `fence`, ...). */
  readonly type: string;
  readonly token: Token;
  readonly children: Node[];
}

/** What the output is: Telegram HTML, or plain text for when Telegram refuses the HTML. */
export type Mode = "html" | "plain";

const parser = new MarkdownIt("default", { html: false, linkify: false, typographer: false });

/** Link schemes Telegram makes a link of; anything else is shown as text. */
const LINKABLE = /^(?:https?|tg|ton):\/\//i;
const WORD_CHAR = /[A-Za-z0-9]/;
/** Inside a pair of single stars, how globs (`*.ts`, `src/*`) start and end. */
const PATH_START = /[./\\]/;
const PATH_END = /[/\\]/;
const LANGUAGE = /^[A-Za-z0-9_+#.-]{1,32}$/;

/** Escapes text for Telegram HTML: only the named entities it knows. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function escapeAttribute(text: string): string {
  return escapeHtml(text).replace(/"/g, "&quot;");
}

/** Renders markdown in `mode`; the result has no leading or trailing whitespace. */
export function renderMarkdown(markdown: string, mode: Mode): string {
  const tokens = parser.parse(markdown.replace(/\r\n?/g, "\n"), {}) as Token[];
  return new Renderer(mode).blocks(tree(tokens), false).trim();
}

function tree(tokens: readonly Token[]): Node[] {
  const root: Node[] = [];
  const stack: Node[][] = [root];
  for (const token of tokens) {
    const siblings = stack.at(-1)!;
    if (token.nesting === 1) {
      const node = { type: token.type.replace(/_open$/, ""), token, children: [] };
      siblings.push(node);
      stack.push(node.children);
    } else if (token.nesting === -1) {
      if (stack.length > 1) stack.pop();
    } else siblings.push({ type: token.type, token, children: [] });
  }
  return root;
}

class Renderer {
  readonly #html: boolean;
  #quoteDepth = 0;
  #inLink = false;

  constructor(mode: Mode) {
    this.#html = mode === "html";
  }

  /** Sibling blocks, a blank line apart (one line apart in a tight list). */
  blocks(nodes: readonly Node[], tight: boolean): string {
    return nodes.map((node) => this.block(node)).filter((text) => text !== "").join(
      tight ? "\n" : "\n\n",
    );
  }

  block(node: Node): string {
    const { token } = node;
    switch (node.type) {
      case "paragraph":
        return this.inline(node.children[0]?.token);
      case "heading": {
        const text = this.inline(node.children[0]?.token);
        return this.#html && text !== "" ? `<b>${text}</b>` : text;
      }
      case "blockquote":
        return this.quote(node);
      case "bullet_list":
      case "ordered_list":
        return this.list(node);
      case "fence":
      case "code_block":
        return this.code(token.content.replace(/\n$/, ""), token.info);
      case "hr":
        return "———";
      case "table":
        return this.table(node);
      case "inline":
        return this.inline(token);
      default:
        // html_block and the like cannot occur with html off; show their text.
        return node.children.length > 0
          ? this.blocks(node.children, false)
          : this.text(token.content.trim());
    }
  }

  quote(node: Node): string {
    this.#quoteDepth++;
    const inner = this.blocks(node.children, false);
    this.#quoteDepth--;
    if (inner === "") return "";
    if (!this.#html) return inner.split("\n").map((line) => `> ${line}`.trimEnd()).join("\n");
    // Telegram has no quote inside a quote: the outer one carries the tags.
    return this.#quoteDepth > 0 ? inner : `<blockquote>${inner}</blockquote>`;
  }

  list(node: Node): string {
    const ordered = node.type === "ordered_list";
    const start = Number(node.token.attrGet("start") ?? "1");
    const items = node.children.filter((item) => item.type === "list_item");
    const tight = items.every((item) =>
      item.children.every((child) => child.type !== "paragraph" || child.token.hidden)
    );
    return items.map((item, i) => {
      const marker = ordered ? `${start + i}. ` : "• ";
      const body = this.blocks(item.children, tight);
      // A lone "*" or "-" line is an empty item to CommonMark, not to the agent.
      if (body === "") {
        return this.text(ordered ? `${item.token.info}${item.token.markup}` : item.token.markup);
      }
      return marker + this.indent(body, " ".repeat(marker.length));
    }).join(tight ? "\n" : "\n\n");
  }

  /** Indents every line but the first, leaving lines of a code block as they are. */
  indent(text: string, prefix: string): string {
    let inPre = false;
    return text.split("\n").map((line, i) => {
      const out = i === 0 || inPre || line === "" ? line : prefix + line;
      if (this.#html) {
        const opened = line.lastIndexOf("<pre>");
        inPre = opened >= 0
          ? line.indexOf("</pre>", opened) < 0
          : inPre && !line.includes("</pre>");
      }
      return out;
    }).join("\n");
  }

  code(content: string, info: string): string {
    if (content.trim() === "") return "";
    if (!this.#html) return content;
    const language = info.trim().split(/\s+/)[0] ?? "";
    return LANGUAGE.test(language)
      ? `<pre><code class="language-${escapeAttribute(language)}">${
        escapeHtml(content)
      }</code></pre>`
      : `<pre>${escapeHtml(content)}</pre>`;
  }

  /** A table as one bullet line per row: `• header: cell · header: cell`. */
  table(node: Node): string {
    const rows: string[][] = [];
    const visit = (nodes: readonly Node[]) => {
      for (const child of nodes) {
        if (child.type === "tr") {
          rows.push(child.children.map((cell) => this.inline(cell.children[0]?.token).trim()));
        } else visit(child.children);
      }
    };
    visit(node.children);
    const [header = [], ...body] = rows;
    const lines = body.length === 0 ? [header] : body.map((cells) =>
      cells.map((cell, i) => {
        const label = header[i] ?? "";
        return label !== "" && cell !== "" ? `${label}: ${cell}` : cell;
      })
    );
    return lines.map((cells) => cells.filter((cell) => cell !== ""))
      .filter((cells) => cells.length > 0)
      .map((cells) => `• ${cells.join(" · ")}`).join("\n");
  }

  text(text: string): string {
    return this.#html ? escapeHtml(text) : text;
  }

  inline(token: Token | undefined): string {
    return this.inlineOf(token?.children ?? []);
  }

  inlineOf(children: readonly Token[]): string {
    const literal = literalStars(children);
    let out = "";
    for (let i = 0; i < children.length; i++) {
      const child = children[i]!;
      switch (child.type) {
        case "text":
          out += this.text(child.content);
          break;
        case "softbreak":
        case "hardbreak":
          out += "\n";
          break;
        case "code_inline":
          // Telegram may refuse code inside a link: a link's label is text.
          out += this.#html && !this.#inLink
            ? `<code>${escapeHtml(child.content)}</code>`
            : this.text(child.content);
          break;
        case "strong_open":
        case "strong_close":
        case "em_open":
        case "em_close":
        case "s_open":
        case "s_close":
          out += literal.has(i) ? this.text(child.markup) : this.emphasis(child);
          break;
        case "link_open": {
          const close = closingIndex(children, i);
          const inLink = this.#inLink;
          this.#inLink = true;
          const label = this.inlineOf(children.slice(i + 1, close));
          this.#inLink = inLink;
          out += this.link(label, child.attrGet("href") ?? "");
          i = close;
          break;
        }
        case "image":
          out += this.link(this.inlineOf(child.children ?? []), child.attrGet("src") ?? "");
          break;
        default:
          out += this.text(child.content);
      }
    }
    return out;
  }

  emphasis(token: Token): string {
    if (!this.#html) return "";
    const tag = token.type.startsWith("strong") ? "b" : token.type.startsWith("em") ? "i" : "s";
    return token.nesting === 1 ? `<${tag}>` : `</${tag}>`;
  }

  /** `label` is already rendered; a link Telegram cannot follow shows as "label (url)". */
  link(label: string, href: string): string {
    const url = href.startsWith("mailto:") ? href.slice("mailto:".length) : href;
    if (url === "") return label;
    // An image inside a link: no link inside a link, its alt text is enough.
    if (this.#inLink) return label === "" ? this.text(url) : label;
    if (this.#html && LINKABLE.test(href)) {
      return `<a href="${escapeAttribute(href)}">${label === "" ? escapeHtml(href) : label}</a>`;
    }
    const shown = this.text(url);
    return label === "" || label === shown ? shown : `${label} (${shown})`;
  }
}

function closingIndex(children: readonly Token[], open: number): number {
  let depth = 0;
  for (let i = open; i < children.length; i++) {
    const type = children[i]!.type;
    if (type === "link_open") depth++;
    else if (type === "link_close" && --depth === 0) return i;
  }
  return children.length;
}

/**
 * Single-star emphasis touching a letter or digit outside (`2*3*4`,
 * `a*b*`), or starting inside with `.` `/` `\\` or ending with `/` `\\`
 * (`*.ts and src/*`), is arithmetic or a glob far more often than italics in
 * an agent's answer: the indexes of those delimiters, to be shown as `*`.
 */
function literalStars(children: readonly Token[]): Set<number> {
  const literal = new Set<number>();
  const open: number[] = [];
  children.forEach((child, i) => {
    if (child.markup !== "*") return;
    if (child.type === "em_open") open.push(i);
    else if (child.type === "em_close") {
      const start = open.pop();
      if (start === undefined) return;
      const before = children[start - 1];
      const after = children[i + 1];
      const first = children[start + 1];
      const last = children[i - 1];
      const touches = (before?.type === "text" && WORD_CHAR.test(before.content.at(-1) ?? "")) ||
        (after?.type === "text" && WORD_CHAR.test(after.content[0] ?? "")) ||
        (first?.type === "text" && PATH_START.test(first.content[0] ?? "")) ||
        (last?.type === "text" && PATH_END.test(last.content.at(-1) ?? ""));
      if (touches) literal.add(start).add(i);
    }
  });
  return literal;
}
