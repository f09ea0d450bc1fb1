import assert from "node:assert/strict";
import {
  flattenMarkdown,
  formatMessage,
  splitMessage,
  WEIXIN_MAX_MESSAGE_LENGTH,
  weixinChunks,
  type WeixinFormatOptions,
} from "../../../lib/platforms/weixin/format.ts";

const compact: WeixinFormatOptions = { splitMultiline: false, plainText: false };
const multiline: WeixinFormatOptions = { splitMultiline: true, plainText: false };
const plain: WeixinFormatOptions = { splitMultiline: false, plainText: true };

/** Length as Weixin counts it: code points. */
const size = (text: string) => [...text].length;
/** The visible content, ignoring whitespace and fence lines (which splitting may add). */
const content = (text: string) =>
  text.split("\n").filter((line) => !line.trimStart().startsWith("```")).join("").replace(
    /\s+/g,
    "",
  );
const fenceLines = (chunk: string) =>
  chunk.split("\n").filter((line) => line.trimStart().startsWith("```")).length;

function assertBubbles(chunks: string[], max: number): void {
  for (const chunk of chunks) {
    assert.ok(chunk.trim() !== "", `an empty bubble in ${JSON.stringify(chunks)}`);
    assert.ok(size(chunk) <= max, `a bubble of ${size(chunk)} > ${max}: ${JSON.stringify(chunk)}`);
  }
}

const words = (n: number, word = "lorem") => Array.from({ length: n }, () => word).join(" ");

Deno.test("formatMessage() strips line ends and collapses blank runs outside fences only", () => {
  const text = "Hello   \n\n\n\nWorld\t\n```\na  \n\n\n\nb\n```\n\n\n";
  assert.equal(formatMessage(text), "Hello\n\nWorld\n```\na\n\n\n\nb\n```");
  assert.equal(formatMessage("\n\n\nHi\r\nthere\n"), "Hi\nthere");
  assert.equal(formatMessage(null), "");
  assert.equal(formatMessage(undefined), "");
});

Deno.test("formatMessage() wraps long prose at spaces and leaves code, tables and headings", async (t) => {
  await t.step("a paragraph wraps at 120 without losing a word", () => {
    const text = words(60);
    const lines = formatMessage(text).split("\n");
    assert.ok(lines.length > 1);
    for (const line of lines) assert.ok(size(line) <= 120);
    assert.equal(lines.join(" "), text);
  });
  await t.step("a word longer than the width is not broken", () => {
    const url = "https://example.com/" + "a".repeat(150);
    const lines = formatMessage(`see ${url} now`).split("\n");
    assert.deepEqual(lines, ["see", url, "now"]);
  });
  await t.step("a link with spaces in its text stays on one line", () => {
    const link = "[the release notes of this version](https://example.com/notes)";
    const out = formatMessage(`${words(18)} ${link} ${words(10)}`);
    assert.ok(out.split("\n").some((line) => line.includes(link)));
  });
  await t.step("a list item's continuation is indented under its text", () => {
    const lines = formatMessage(`  - ${words(40)}`).split("\n");
    assert.ok(lines[0]!.startsWith("  - lorem"));
    for (const line of lines.slice(1)) assert.match(line, /^ {4}lorem/);
    const numbered = formatMessage(`12. ${words(40)}`).split("\n");
    for (const line of numbered.slice(1)) assert.match(line, /^ {4}lorem/);
  });
  await t.step("a quote's continuation stays in the quote", () => {
    const lines = formatMessage(`> ${words(40)}`).split("\n");
    assert.ok(lines.length > 1);
    for (const line of lines) assert.match(line, /^> lorem/);
  });
  await t.step("code, table rows and headings are never wrapped", () => {
    const long = words(40);
    const text = `# ${long}\n| ${long} | x |\n\`\`\`\n${long}\n\`\`\``;
    assert.equal(formatMessage(text), text);
  });
  await t.step("a word opening with ``` is not moved to the start of a line", () => {
    const out = formatMessage(`${words(23)} \`\`\`inline\`\`\` code`);
    assert.ok(out.split("\n").every((line) => !line.startsWith("```")));
  });
  await t.step("CJK words with spaces wrap, a CJK run without spaces stays whole", () => {
    const sentence = "今天天气很好我们去公园散步吧";
    const out = formatMessage(Array.from({ length: 20 }, () => sentence).join(" "));
    assert.ok(out.split("\n").length > 1);
    assert.equal(content(out), sentence.repeat(20));
    const run = "长".repeat(300);
    assert.equal(formatMessage(run), run);
  });
});

Deno.test("a table is kept whole in one bubble", async (t) => {
  const table = "| name | value |\n|------|-------|\n| a | 1 |\n| b | 2 |";
  await t.step("when it fits with the rest (not taken for chatty lines)", () => {
    assert.deepEqual(weixinChunks(table, compact), [table]);
  });
  await t.step("when the text around it is split", () => {
    const text = `${words(30)}\n\n${table}\n\n${words(30)}`;
    const chunks = weixinChunks(text, { ...compact, maxLength: 200 });
    assert.ok(chunks.length > 1);
    assertBubbles(chunks, 200);
    assert.ok(chunks.some((chunk) => chunk.includes(table)));
  });
  await t.step("with split_multiline_messages", () => {
    const chunks = weixinChunks(`Results:\n${table}\nDone.`, multiline);
    assert.deepEqual(chunks, ["Results:", table, "Done."]);
  });
});

Deno.test("a fence that fits is never split across bubbles", () => {
  const fence = "```ts\n" + Array.from({ length: 8 }, (_, i) => `const v${i} = ${i};`).join("\n") +
    "\n```";
  const text = `${words(25)}\n\n${fence}\n\n${words(25)}`;
  const chunks = weixinChunks(text, { ...compact, maxLength: 200 });
  assertBubbles(chunks, 200);
  assert.equal(chunks.filter((chunk) => chunk.includes("```")).length, 1);
  assert.ok(chunks.some((chunk) => chunk.includes(fence)));
});

Deno.test("an oversized fence is split into valid fences, every code line kept in order", () => {
  const code = Array.from({ length: 40 }, (_, i) => `print("line ${i}")  # step ${i}`);
  const text = "```python\n" + code.join("\n") + "\n```";
  const chunks = weixinChunks(text, { ...compact, maxLength: 200 });
  assertBubbles(chunks, 200);
  assert.ok(chunks.length > 1);
  for (const chunk of chunks) {
    const lines = chunk.split("\n");
    assert.equal(lines[0], "```python");
    assert.equal(lines.at(-1), "```");
    assert.equal(fenceLines(chunk), 2);
  }
  assert.deepEqual(chunks.flatMap((chunk) => chunk.split("\n").slice(1, -1)), code);
});

Deno.test("an unclosed oversized fence is closed in every piece", () => {
  const text = "```\n" + Array.from({ length: 30 }, (_, i) => `x = ${i} * 1000`).join("\n");
  const chunks = weixinChunks(text, { ...compact, maxLength: 120 });
  assert.ok(chunks.length > 1);
  for (const chunk of chunks) assert.ok(chunk.startsWith("```\n") && chunk.endsWith("\n```"));
});

Deno.test("a code line longer than a bubble is cut exactly, nothing dropped", () => {
  const line = "a b ".repeat(100).trimEnd();
  const chunks = weixinChunks("```\n" + line + "\n```", { ...compact, maxLength: 100 });
  assertBubbles(chunks, 100);
  assert.equal(chunks.map((chunk) => chunk.slice(4, -4)).join(""), line);
});

Deno.test("chatty short lines become one bubble each, other short texts stay one", async (t) => {
  await t.step("2 to 6 short lines: one bubble per line", () => {
    for (let n = 2; n <= 6; n++) {
      const lines = Array.from({ length: n }, (_, i) => `Line number ${i + 1} here`);
      assert.deepEqual(weixinChunks(lines.join("\n"), compact), lines);
    }
    assert.deepEqual(weixinChunks("好的！\n\n我马上去查。", compact), ["好的！", "我马上去查。"]);
  });
  const stays = (text: string) => assert.deepEqual(weixinChunks(text, compact), [text]);
  await t.step("7 lines stay one bubble", () => {
    stays(Array.from({ length: 7 }, (_, i) => `Line ${i + 1}`).join("\n"));
  });
  await t.step("a line over 48 characters keeps it one bubble", () => {
    stays(`Short\n${"x".repeat(49)}`);
  });
  await t.step("a heading or a label as the first line keeps it one bubble", () => {
    stays("## Summary\nAll good\nNothing to do");
    stays("Next steps:\nWash the car\nFeed the cat");
    stays("下一步：\n洗车\n喂猫");
  });
  await t.step("lists, quotes and other marked lines keep it one bubble", () => {
    stays("- milk\n- eggs\n- bread");
    stays("Shopping\n1. milk\n2. eggs");
    stays("Hi\n> quoted");
    stays("Hi\n  indented");
    stays("Hi\n【注意】");
    stays("Hi\n__Bold only__");
    stays("```\nls\n```");
  });
});

Deno.test("no bubble is longer than maxLength", async (t) => {
  await t.step("at 200, with paragraphs, lists, long words and CJK", () => {
    const text = [
      words(80),
      "- " + words(50),
      "x".repeat(450),
      "中文句子，很长很长。".repeat(60),
      words(3),
    ].join("\n\n");
    const chunks = weixinChunks(text, { ...compact, maxLength: 200 });
    assertBubbles(chunks, 200);
    assert.equal(content(chunks.join("")), content(text));
  });
  await t.step("at the default 2000 with a 10,000-character text", () => {
    const paragraph = words(40, "word") + ".";
    const text = Array.from({ length: 50 }, () => paragraph).join("\n\n");
    assert.ok(text.length >= 10_000);
    const chunks = weixinChunks(text, compact);
    assertBubbles(chunks, WEIXIN_MAX_MESSAGE_LENGTH);
    assert.ok(chunks.length >= 5);
    assert.equal(content(chunks.join("")), content(text));
    for (const chunk of chunks) assert.ok(chunk.endsWith("word."), "cut between paragraphs");
  });
  await t.step("emoji count as one character each", () => {
    const text = "😀".repeat(2000);
    assert.deepEqual(weixinChunks(text, compact), [text]);
    assert.equal(weixinChunks(text + "😀", compact).length, 2);
  });
});

Deno.test("CJK text is split without losing a character", () => {
  const text = "微信是一个即时通讯应用。它支持文字、语音和视频！".repeat(250);
  const chunks = weixinChunks(text, compact);
  assertBubbles(chunks, 2000);
  assert.equal(chunks.join(""), text);
  assert.ok(chunks[0]!.endsWith("。") || chunks[0]!.endsWith("！"), "cut after punctuation");
  const unbroken = "字".repeat(4500);
  assert.deepEqual(weixinChunks(unbroken, compact).map(size), [2000, 2000, 500]);
});

Deno.test("empty and whitespace-only text gives no bubbles", () => {
  for (const text of ["", "   ", "\n\n\t\n", "---", "***\n\n___"]) {
    assert.deepEqual(splitMessage(formatMessage(text), plain), [], JSON.stringify(text));
    assert.deepEqual(weixinChunks(text, { ...multiline, plainText: true }), []);
  }
  assert.deepEqual(splitMessage("", compact), []);
  assert.deepEqual(weixinChunks("  \n ", multiline), []);
});

Deno.test("split_multiline_messages sends one bubble per top-level line", async (t) => {
  await t.step("indented continuation lines stay with their line", () => {
    const text = "First point\n  with a detail\n\n  and another\nSecond point\n- item\n  - nested";
    assert.deepEqual(weixinChunks(text, multiline), [
      "First point\n  with a detail\n\n  and another",
      "Second point",
      "- item\n  - nested",
    ]);
  });
  await t.step("a fence stays whole", () => {
    const fence = "```sh\nls\n\ncd /tmp\n```";
    assert.deepEqual(weixinChunks(`Run:\n${fence}\nThen check.`, multiline), [
      "Run:",
      fence,
      "Then check.",
    ]);
  });
  await t.step("a long paragraph is wrapped but stays one bubble", () => {
    const chunks = weixinChunks(`${words(60)}\nNext`, multiline);
    assert.equal(chunks.length, 2);
    assert.ok(chunks[0]!.includes("\n"));
    assert.equal(chunks[1], "Next");
  });
  await t.step("a line longer than a bubble is cut", () => {
    const chunks = weixinChunks(words(100), { ...multiline, maxLength: 100 });
    assertBubbles(chunks, 100);
    assert.equal(content(chunks.join("")), content(words(100)));
  });
});

Deno.test("plain_text flattens each bubble", async (t) => {
  const flat = (text: string) => flattenMarkdown(text);
  await t.step("bold and italic markers go", () => {
    assert.equal(
      flat("**bold** and __strong__ and *it* and _em_"),
      "bold and strong and it and em",
    );
    assert.equal(flat("***both***"), "both");
    assert.equal(flat("中文*强调*中文"), "中文强调中文");
  });
  await t.step("snake_case, a_b_c, 2*3*4 and list stars survive", () => {
    assert.equal(flat("set my_var_name and a_b_c"), "set my_var_name and a_b_c");
    assert.equal(flat("2*3*4 = 24"), "2*3*4 = 24");
    assert.equal(flat("* item one\n* item two"), "* item one\n* item two");
    assert.equal(flat("snake_case_*x*"), "snake_case_*x*");
  });
  await t.step("inline code loses its backticks, its content untouched", () => {
    assert.equal(flat("run `rm -rf **/tmp_dir_` please"), "run rm -rf **/tmp_dir_ please");
    assert.equal(flat("use ``a `b` c``"), "use a `b` c");
  });
  await t.step("heading markers go", () => {
    assert.equal(flat("# Title\n### Sub ###\n#hashtag"), "Title\nSub\n#hashtag");
  });
  await t.step("links become their text (3.8), or their url when they have none", () => {
    assert.equal(flat("[docs](https://example.com/d)"), "docs");
    assert.equal(flat("[**bold** link](https://a.io)"), "bold link");
    assert.equal(flat('![chart](https://a.io/c.png "Chart")'), "chart");
    assert.equal(flat("[](https://a.io)"), "https://a.io");
    assert.equal(flat("see https://a.io/x"), "see https://a.io/x", "a bare url stays");
  });
  await t.step("fence markers go, code lines are kept verbatim", () => {
    assert.equal(
      flat("Code:\n```py\n**kw** = my_var  \n\n\n  x = 1\n```\nEnd"),
      [
        "Code:",
        "**kw** = my_var  ",
        "",
        "",
        "  x = 1",
        "End",
      ].join("\n"),
    );
  });
  await t.step("rule lines are dropped and blank runs collapse", () => {
    assert.equal(flat("Above\n\n---\n\n***\n___\n\nBelow"), "Above\n\nBelow");
  });
  await t.step("a bubble that flattens to nothing is not sent", () => {
    assert.deepEqual(weixinChunks("Hello\n---\nWorld", { ...multiline, plainText: true }), [
      "Hello",
      "World",
    ]);
  });
  await t.step("splitting comes first, then each bubble is flattened", () => {
    const fence = "```\n" + Array.from({ length: 30 }, (_, i) => `step_${i}()`).join("\n") +
      "\n```";
    const chunks = weixinChunks(fence, { ...plain, maxLength: 100 });
    assert.ok(chunks.length > 1);
    assertBubbles(chunks, 100);
    assert.ok(chunks.every((chunk) => !chunk.includes("```")));
    assert.equal(chunks.join("\n"), Array.from({ length: 30 }, (_, i) => `step_${i}()`).join("\n"));
  });
});

Deno.test("maxLength must be a positive integer", () => {
  assert.throws(() => splitMessage("hi", { ...compact, maxLength: 0 }), RangeError);
  assert.throws(() => weixinChunks("hi", { ...multiline, maxLength: 1.5 }), RangeError);
});

/** mulberry32: a small deterministic generator. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generate(next: () => number): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const count = (max: number) => 1 + Math.floor(next() * max);
  const vocabulary = ["the", "gateway", "my_var", "**bold**", "_it_", "`code`", "中文", "😀"];
  const prose = () => Array.from({ length: count(60) }, () => pick(vocabulary)).join(" ");
  const parts: (() => string)[] = [
    () => "\n".repeat(count(4)),
    () => "   \n\t\n",
    prose,
    () => "x".repeat(count(400)),
    () => `${"a ".repeat(count(40))}\`\`\`inline\`\`\` ${"b ".repeat(count(40))}`,
    () => "微信消息，测试内容。".repeat(count(40)),
    () => Array.from({ length: count(8) }, () => `- ${prose()}`).join("\n"),
    () => Array.from({ length: count(5) }, (_, i) => `${i + 1}. item`).join("\n"),
    () => `# ${prose()}`,
    () => "| a | b |\n|---|---|\n" + Array.from({ length: count(6) }, () => "| 1 | 2 |").join("\n"),
    () => "Hi!\nHow are you?",
    () => "---",
    () => "  continued " + prose(),
    () => {
      const lines = Array.from({ length: count(30) }, () => pick(["", "  x = 1", prose()]));
      return "\n```" + pick(["", "ts", "python"]) + "\n" + lines.join("\n") + "\n```\n";
    },
  ];
  return Array.from({ length: count(8) }, () => pick(parts)()).join(pick(["\n", "\n\n", " "]));
}

Deno.test("generated inputs never give an empty or oversized bubble, nor lose text", () => {
  const next = random(20240611);
  for (let i = 0; i < 300; i++) {
    const text = generate(next);
    for (const maxLength of [60, 200, 2000]) {
      for (const splitMultiline of [false, true]) {
        for (const plainText of [false, true]) {
          const options = { splitMultiline, plainText, maxLength };
          const chunks = weixinChunks(text, options);
          const where = `input ${i} ${JSON.stringify(options)}: ${JSON.stringify(text)}`;
          for (const chunk of chunks) {
            assert.ok(chunk.trim() !== "", `empty bubble, ${where}`);
            assert.ok(size(chunk) <= maxLength, `bubble of ${size(chunk)}, ${where}`);
          }
          if (plainText) continue;
          assert.equal(content(chunks.join("\n")), content(formatMessage(text)), where);
          for (const chunk of chunks) {
            assert.equal(fenceLines(chunk) % 2, 0, `open fence, ${where}`);
          }
        }
      }
    }
  }
});
