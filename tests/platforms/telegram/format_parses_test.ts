/**
 * The formatter's output against the simulator's Telegram HTML parser (an
 * implementation written separately, from the protocol file): every message
 * it makes must parse, and fit in 4,096 characters once parsed.
 */
import assert from "node:assert/strict";
import { telegramMessages } from "../../../lib/platforms/telegram/format.ts";
import { parseText } from "../../fakes/telegram_server.ts";

function assertParses(markdown: string): number {
  const parts = telegramMessages({ text: markdown, format: "markdown" });
  for (const part of parts) {
    let parsed: { text: string };
    try {
      parsed = parseText(part.text, part.parseMode);
    } catch (error) {
      throw new Error(`Telegram would refuse ${JSON.stringify(part.text.slice(0, 200))}: ${error}`);
    }
    assert.ok(parsed.text.length <= 4096, `${parsed.text.length} characters`);
    for (const plain of part.fallback) assert.ok(parseText(plain).text.length <= 4096);
  }
  return parts.length;
}

Deno.test("the characters that break other gateways' formatting parse as Telegram HTML", () => {
  for (
    const markdown of [
      "Call f(x) (see note).",
      "snake_case_name and __init__ and a_b_c",
      "1. First. 2. Second! End.",
      "```python\nprint('a < b & c')\n```",
      "See [the docs](https://example.com/a_(b)?q=1&r=2) and <https://example.org>.",
      "Mail me at <alice@example.com> or AT&T.",
      "**bold _nested italic_ still bold** then `code with * and _`",
      "unclosed **bold and `code",
      "> quoted line\n> another (with parens)",
      "| a | b |\n|---|---|\n| 1 | 2 |",
      "2*3*4 = 24, *.ts, src/*",
    ]
  ) assert.equal(assertParses(markdown), 1, markdown);
});

Deno.test("a 10,000-character answer with fences and links goes as parts that each parse", () => {
  const blocks: string[] = [];
  for (let n = 0; blocks.join("\n\n").length < 10_000; n++) {
    blocks.push(
      `Step ${n}: call \`run_${n}()\` (it returns a_b) and read [page ${n}](https://example.com/${n}).`,
      n % 4 === 0 ? "```js\n" + `const x${n} = a < b && c;\n`.repeat(30) + "```" : `- item ${n}.`,
    );
  }
  assert.ok(assertParses(blocks.join("\n\n")) >= 3);
});

Deno.test("random hostile markdown always parses as Telegram HTML", () => {
  const pieces = [
    "*",
    "**",
    "_",
    "`",
    "```",
    "[",
    "]",
    "(",
    ")",
    "](https://x.org/a_(b)",
    "<",
    ">",
    "&",
    "\n",
    "\n\n",
    "- ",
    "> ",
    "# ",
    "😀",
    "中文",
    " ",
    "word",
    "\\",
    "<a@b.c>",
    "||",
    '"',
    ".",
  ];
  let seed = 7;
  const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  for (let n = 0; n < 300; n++) {
    let markdown = "";
    for (let i = 1 + random(80); i > 0; i--) markdown += pieces[random(pieces.length)];
    assertParses(markdown);
  }
});
