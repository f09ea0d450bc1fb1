import assert from "node:assert/strict";
import {
  escapeTelegramHtml,
  htmlToPlain,
  plainFallback,
  splitPlain,
  splitTelegramHtml,
  TELEGRAM_MAX_MESSAGE_LENGTH,
  telegramMessages,
  toTelegramHtml,
  visibleLength,
} from "../../../lib/platforms/telegram/format.ts";
import { assertTelegramHtml, telegramHtmlErrors, visibleText } from "./_telegram_html.ts";

/** Converts, checks the result as one Telegram message, and returns it. */
function html(markdown: string): string {
  const out = toTelegramHtml(markdown);
  assertTelegramHtml(out, Number.MAX_SAFE_INTEGER);
  return out;
}

/** Splits, checks every chunk against Telegram's rules and the limit, and returns them. */
function split(input: string, limit = TELEGRAM_MAX_MESSAGE_LENGTH): string[] {
  const chunks = splitTelegramHtml(input, limit);
  for (const chunk of chunks) {
    assertTelegramHtml(chunk, limit);
    assert.equal(visibleLength(chunk), visibleText(chunk).length);
  }
  // Nothing but the whitespace at the cuts is lost.
  const squeeze = (text: string) => text.replace(/\s+/g, "");
  assert.equal(squeeze(chunks.map(visibleText).join("")), squeeze(visibleText(input)));
  return chunks;
}

const hasLoneSurrogate = (text: string) =>
  /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);

Deno.test("the strict checker refuses what Telegram refuses", async (t) => {
  const bad: [string, RegExp][] = [
    ["a<br>b", /unsupported tag <br>/],
    ["<p>x</p>", /unsupported tag <p>/],
    ["<b>x", /<b> never closed/],
    ["<b><i>x</b></i>", /<\/b> closes <i>/],
    ["x</b>", /closes nothing/],
    ["a & b", /bare "&"/],
    ["a &nbsp; b", /bare "&"/],
    ["1 > 0", /bare ">"/],
    ["a < b", /bare "<"/],
    ["<a>x</a>", /without href/],
    ['<a href="javascript:alert(1)">x</a>', /with href/],
    ['<b class="x">y</b>', /has attribute class/],
    ['<code class="language-ts">x</code>', /outside <pre>/],
    ["<pre><b>x</b></pre>", /<b> inside <pre>/],
    ["<code><i>x</i></code>", /<i> inside <code>/],
    ["<blockquote><blockquote>x</blockquote></blockquote>", /inside <blockquote>/],
    ['<a href="https://a.org"><a href="https://b.org">x</a></a>', /<a> inside <a>/],
    ["<b></b>", /empty <b>/],
    [" \n ", /no visible text/],
    ["\ud83d", /lone high surrogate/],
    ["x".repeat(4097), /4097 visible UTF-16 units > 4096/],
  ];
  for (const [input, error] of bad) {
    await t.step(JSON.stringify(input.slice(0, 40)), () => {
      assert.match(telegramHtmlErrors(input).join("; "), error);
    });
  }
  await t.step("and accepts every tag Telegram documents", () => {
    assertTelegramHtml(
      "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>i</ins><s>s</s><strike>s</strike>" +
        '<del>d</del><tg-spoiler>t</tg-spoiler><span class="tg-spoiler">s</span>' +
        '<a href="https://example.com/?a=1&amp;b=2">a</a><code>c</code><pre>p</pre>' +
        '<pre><code class="language-ts">x</code></pre><blockquote>q</blockquote>' +
        '<blockquote expandable>q</blockquote><tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>' +
        " &lt;&gt;&amp;&quot;&#128512;&#x1F600;",
    );
  });
});

Deno.test("toTelegramHtml() turns each markdown construct into Telegram's tags", async (t) => {
  const cases: [string, string, string][] = [
    ["bold", "**bold** and __bold__", "<b>bold</b> and <b>bold</b>"],
    ["italic", "*it* and _it_", "<i>it</i> and <i>it</i>"],
    ["strike", "~~gone~~", "<s>gone</s>"],
    ["nested emphasis", "**bold _it_ bold**", "<b>bold <i>it</i> bold</b>"],
    ["bold italic", "***both***", "<i><b>both</b></i>"],
    ["inline code", "run `a < b && c`", "run <code>a &lt; b &amp;&amp; c</code>"],
    ["code with stars", "`**not bold**`", "<code>**not bold**</code>"],
    [
      "a fence with a language",
      "```python\nif a < b:\n    print('&')\n```",
      "<pre><code class=\"language-python\">if a &lt; b:\n    print('&amp;')</code></pre>",
    ],
    ["a fence without a language", "```\n<tag>\n```", "<pre>&lt;tag&gt;</pre>"],
    ["a fence with a strange language", '```a"b\nx\n```', "<pre>x</pre>"],
    [
      "an unclosed fence runs to the end",
      "```js\nlet a;\n\nlet b;",
      '<pre><code class="language-js">let a;\n\nlet b;</code></pre>',
    ],
    ["indented code", "text\n\n    code  line", "text\n\n<pre>code  line</pre>"],
    ["headings", "# One\n\n### Three *it*", "<b>One</b>\n\n<b>Three <i>it</i></b>"],
    ["paragraphs and line breaks", "a\nb\n\n\n\nc  \nd", "a\nb\n\nc\nd"],
    ["a bullet list", "- a\n- b\n- c", "• a\n• b\n• c"],
    ["a change of bullet starts a new list", "- a\n* b", "• a\n\n• b"],
    ["an empty item is its marker", "-\n\n1.", "-\n\n1."],
    ["a nested list", "- a\n  - b\n    - c\n- d", "• a\n  • b\n    • c\n• d"],
    ["a numbered list keeps its start", "3. x\n4. y", "3. x\n4. y"],
    ["a loose list keeps its blank lines", "1. x\n\n2. y", "1. x\n\n2. y"],
    ["a list item with two lines", "- one\n  more", "• one\n  more"],
    [
      "a list item with code",
      "- see:\n\n  ```sh\n  ls -l\n  ```",
      '• see:\n\n  <pre><code class="language-sh">ls -l</code></pre>',
    ],
    ["a quote", "> said\n> twice", "<blockquote>said\ntwice</blockquote>"],
    ["a nested quote joins its parent", "> a\n>\n> > b", "<blockquote>a\n\nb</blockquote>"],
    [
      "a link",
      "[docs](https://example.com/a?b=1&c=2)",
      '<a href="https://example.com/a?b=1&amp;c=2">docs</a>',
    ],
    [
      "a link with ) in its url",
      "[Foo](https://en.wikipedia.org/wiki/Foo_(bar)) after",
      '<a href="https://en.wikipedia.org/wiki/Foo_(bar)">Foo</a> after',
    ],
    [
      "a link with a quote in its url",
      '[q](https://x.org/"a")',
      '<a href="https://x.org/%22a%22">q</a>',
    ],
    ["a link with code in its label", "[`run`](https://x.org)", '<a href="https://x.org">run</a>'],
    ["an autolink", "<https://x.org/a>", '<a href="https://x.org/a">https://x.org/a</a>'],
    ["a relative link", "[notes](docs/notes.md)", "notes (docs/notes.md)"],
    ["a javascript link", "[x](javascript:alert(1))", "[x](javascript:alert(1))"],
    ["an image", "![a cat](https://x.org/cat.png)", '<a href="https://x.org/cat.png">a cat</a>'],
    [
      "a linked image",
      "[![logo](https://x.org/l.png)](https://x.org)",
      '<a href="https://x.org">logo</a>',
    ],
    ["a rule", "a\n\n---\n\nb", "a\n\n———\n\nb"],
    [
      "a table",
      "| Name | Age |\n|------|----:|\n| **Al** | 30 |\n| Bo | |",
      "• Name: <b>Al</b> · Age: 30\n• Name: Bo",
    ],
    ["a table with only a header", "| a | b |\n|---|---|", "• a · b"],
    ["raw HTML is text", "<b>hi</b> <br> <p>", "&lt;b&gt;hi&lt;/b&gt; &lt;br&gt; &lt;p&gt;"],
    ["entities are decoded, then escaped", "&amp; &lt; &copy; &#65;", "&amp; &lt; © A"],
    ["CRLF line ends", "a\r\nb\r\n\r\nc", "a\nb\n\nc"],
  ];
  for (const [name, markdown, expected] of cases) {
    await t.step(name, () => assert.equal(html(markdown), expected));
  }
});

Deno.test("toTelegramHtml() passes stray characters through literally", async (t) => {
  const cases: [string, string][] = [
    ["(", "("],
    [")", ")"],
    ["_", "_"],
    [".", "."],
    ["*", "*"],
    ["a_b_c", "a_b_c"],
    ["snake_case_name and __dunder", "snake_case_name and __dunder"],
    ["2*3*4", "2*3*4"],
    ["2*3 = 6 and 4*5 = 20", "2*3 = 6 and 4*5 = 20"],
    ["x * y * z", "x * y * z"],
    ["glob *.ts and src/*", "glob *.ts and src/*"],
    ["<email@x.com>", "email@x.com"],
    ["write to <a@b.co> or <x", "write to a@b.co or &lt;x"],
    ["&", "&amp;"],
    ["AT&T &c", "AT&amp;T &amp;c"],
    ["1 < 2 > 0", "1 &lt; 2 &gt; 0"],
    ["**unclosed bold", "**unclosed bold"],
    ["`unclosed code", "`unclosed code"],
    ["[unclosed link](https://x.org", "[unclosed link](https://x.org"],
    ["f(a)(b).c! #1 +1 -1 =1 |x| {y} [z]", "f(a)(b).c! #1 +1 -1 =1 |x| {y} [z]"],
    ["\\*escaped\\* \\_too\\_", "*escaped* _too_"],
    ["中文*强调*", "中文<i>强调</i>"],
    ["😀 **粗体** 😀", "😀 <b>粗体</b> 😀"],
    ["", ""],
    ["   \n\n  ", ""],
  ];
  for (const [markdown, expected] of cases) {
    await t.step(JSON.stringify(markdown), () => {
      const out = toTelegramHtml(markdown);
      assert.equal(out, expected);
      if (out !== "") assertTelegramHtml(out);
    });
  }
});

Deno.test("plainFallback() keeps the text, code and link targets without markup", async (t) => {
  const cases: [string, string, string][] = [
    ["emphasis goes", "**bold** *it* ~~s~~", "bold it s"],
    [
      "links show their url",
      "[docs](https://x.org/d) and <https://x.org>",
      "docs (https://x.org/d) and https://x.org",
    ],
    ["a link with ) in its url", "[Foo](https://w.org/Foo_(bar))", "Foo (https://w.org/Foo_(bar))"],
    ["an email", "<a@b.co>", "a@b.co"],
    ["code is kept verbatim", "`a*b*c`\n\n```py\nx = 1  # <3\n```", "a*b*c\n\nx = 1  # <3"],
    ["lists and headings", "# T\n\n- a\n- b\n\n1. c", "T\n\n• a\n• b\n\n1. c"],
    ["quotes", "> a\n> b", "> a\n> b"],
    ["a table", "| k | v |\n|---|---|\n| a | 1 |", "• k: a · v: 1"],
    ["stray characters", "2*3*4 a_b (x) & <y>", "2*3*4 a_b (x) & <y>"],
    ["unclosed markup", "**a `b", "**a `b"],
  ];
  for (const [name, markdown, expected] of cases) {
    await t.step(name, () => assert.equal(plainFallback(markdown), expected));
  }
});

Deno.test("htmlToPlain() drops tags, decodes entities and writes links out", () => {
  assert.equal(
    htmlToPlain(
      '<b>a &amp; b</b> <a href="https://x.org/?a=1&amp;b=2">x</a> ' +
        '<a href="https://y.org">https://y.org</a> <pre><code class="language-ts">1 &lt; 2</code></pre>',
    ),
    "a & b x (https://x.org/?a=1&b=2) https://y.org 1 < 2",
  );
  assert.equal(htmlToPlain(toTelegramHtml("**Hi** [me](https://x.org)")), "Hi me (https://x.org)");
});

Deno.test("escapeTelegramHtml() escapes only what Telegram needs", () => {
  assert.equal(escapeTelegramHtml(`<a href="x">&'`), `&lt;a href="x"&gt;&amp;'`);
  assertTelegramHtml(escapeTelegramHtml("1 < 2 > 0 & done"));
});

Deno.test("visibleLength() counts UTF-16 units after entity parsing", () => {
  assert.equal(visibleLength(""), 0);
  assert.equal(visibleLength("<b>bold</b>"), 4);
  assert.equal(visibleLength("&lt;&gt;&amp;&quot;"), 4);
  assert.equal(visibleLength("&#128512; &#x1F600;"), 5);
  assert.equal(visibleLength("😀中"), 3);
  assert.equal(visibleLength('<a href="https://x.org/a-very-long-url">x</a>'), 1);
  assert.equal(visibleLength('<pre><code class="language-ts">ab</code></pre>'), 2);
});

Deno.test("splitTelegramHtml() keeps a message that fits whole", () => {
  const text = html("**Hello** world");
  assert.deepEqual(split(text), [text]);
  assert.deepEqual(split("a".repeat(4096)), ["a".repeat(4096)]);
  assert.deepEqual(splitTelegramHtml(""), []);
  assert.deepEqual(splitTelegramHtml("\n\n  \n"), []);
});

Deno.test("splitTelegramHtml() prefers a blank line, then a line end, then a space", async (t) => {
  await t.step("a blank line in the second half wins over a later line end", () => {
    assert.deepEqual(split("aaaaaaaaa\n\nbb\ncc dd", 15), ["aaaaaaaaa", "bb\ncc dd"]);
  });
  await t.step("a line end in the second half wins over a later space", () => {
    assert.deepEqual(split("aaaaaaaaa\nbb cc dd", 15), ["aaaaaaaaa", "bb cc dd"]);
  });
  await t.step("a space when there is no line end", () => {
    assert.deepEqual(split("aaaa bbbb cccc dddd", 10), ["aaaa bbbb", "cccc dddd"]);
  });
  await t.step("a boundary in the first half loses to a hard cut", () => {
    assert.deepEqual(split("ab " + "c".repeat(20), 10), ["ab ccccccc", "cccccccccc", "ccc"]);
  });
  await t.step("a CJK stop is a boundary", () => {
    assert.deepEqual(split("这是第一句。这是第二句。", 8), ["这是第一句。", "这是第二句。"]);
  });
});

Deno.test("splitTelegramHtml() closes formatting at a cut and opens it again", async (t) => {
  await t.step("bold", () => {
    assert.deepEqual(split("<b>one two three</b>", 10), ["<b>one two</b>", "<b>three</b>"]);
  });
  await t.step("nested tags, in order", () => {
    assert.deepEqual(split("x <b>a <i>bb cc</i> d</b>", 6), [
      "x <b>a <i>bb</i></b>",
      "<b><i>cc</i> d</b>",
    ]);
  });
  await t.step("a link keeps its href", () => {
    assert.deepEqual(split('<a href="https://x.org/?a=1&amp;b=2">long link label</a>', 10), [
      '<a href="https://x.org/?a=1&amp;b=2">long link</a>',
      '<a href="https://x.org/?a=1&amp;b=2">label</a>',
    ]);
  });
  await t.step("a code block keeps its language and its indentation", () => {
    const code = html("```py\ndef f():\n    return 1\n\n\ndef g():\n    return 2\n```");
    assert.deepEqual(split(code, 30), [
      '<pre><code class="language-py">def f():\n    return 1</code></pre>',
      '<pre><code class="language-py">def g():\n    return 2</code></pre>',
    ]);
  });
  await t.step("a quote", () => {
    assert.deepEqual(split("<blockquote>aaaa\nbbbb</blockquote>", 6), [
      "<blockquote>aaaa</blockquote>",
      "<blockquote>bbbb</blockquote>",
    ]);
  });
  await t.step("a tag that would open empty moves to the next chunk", () => {
    assert.deepEqual(split("abc<b>def</b>", 3), ["abc", "<b>def</b>"]);
    assert.deepEqual(split("ab<b>cd</b>ef", 3), ["ab<b>c</b>", "<b>d</b>ef"]);
  });
});

Deno.test("splitTelegramHtml() never cuts an entity, a surrogate pair or a cluster", async (t) => {
  await t.step("entities count one and stay whole", () => {
    for (let limit = 2; limit <= 12; limit++) {
      for (const chunk of split("a&amp;b&lt;c&gt;d&quot;e&#128512;f", limit)) {
        assert.ok(!/&[a-z#0-9]*$/i.test(chunk) && !/^[a-z#0-9]*;/i.test(chunk), chunk);
      }
    }
  });
  await t.step("emoji and CJK at every cut position", () => {
    const text = "中文😀测试👍🏽字符🇩🇪ok👨‍👩‍👧é\u0301";
    for (let limit = 2; limit <= 14; limit++) {
      const chunks = split(`<b>${text}</b>`, limit);
      for (const chunk of chunks) assert.ok(!hasLoneSurrogate(chunk), `${limit}: ${chunk}`);
      assert.equal(chunks.map(visibleText).join(""), text);
    }
  });
  await t.step("a skin tone, a joiner and a combining mark stay with their character", () => {
    assert.deepEqual(split("ab👍🏽", 4), ["ab", "👍🏽"]);
    assert.deepEqual(split("a👨‍👩", 5), ["a", "👨‍👩"]);
    assert.deepEqual(split("abé\u0301", 3), ["ab", "é\u0301"]);
  });
});

Deno.test("splitTelegramHtml() escapes sloppy input so each chunk still parses", () => {
  const cases: [string, string[]][] = [
    ["a < b & c > d", ["a &lt; b &amp; c &gt; d"]],
    ["&bogus; &#0; &#xD800;", ["&amp;bogus; &amp;#0; &amp;#xD800;"]],
    ["a <b", ["a &lt;b"]],
  ];
  for (const [input, expected] of cases) {
    const chunks = splitTelegramHtml(input, 100);
    assert.deepEqual(chunks, expected);
    for (const chunk of chunks) assertTelegramHtml(chunk);
  }
});

Deno.test("splitTelegramHtml() refuses a limit that cannot hold an emoji", () => {
  assert.throws(() => splitTelegramHtml("abc", 1), {
    name: "RangeError",
    message: 'Cannot split at limit "1": not an integer of at least 2',
  });
  assert.throws(() => splitPlain("abc", 2.5), RangeError);
});

Deno.test("a 10,000-character answer splits into valid messages of at most 4096", () => {
  const paragraph = (n: number) =>
    `Paragraph ${n} has **bold ${n}**, _italic_, \`code_${n}\`, a [link ${n}](https://example.com/p/${n}?q=a&b=(c)) ` +
    `and stray ( _ . * & < > characters, 2*3*4 and a_b_c; 中文 and 😀 too.`;
  const fence = (n: number) =>
    "```ts\n" + Array.from({ length: 40 }, (_, i) =>
      `const v${n}_${i} = a < b && c > d; // ${"x".repeat(30)}`).join("\n") +
    "\n```";
  const parts: string[] = [];
  for (let n = 0; parts.join("\n\n").length < 10_000; n++) {
    parts.push(
      paragraph(n),
      n % 3 === 0 ? fence(n) : `- item ${n}\n- item ${n + 1}\n\n> quote ${n}`,
    );
  }
  const markdown = parts.join("\n\n");
  assert.ok(markdown.length >= 10_000);
  const whole = html(markdown);
  for (const limit of [4096, 1000, 500, 97]) {
    const chunks = split(whole, limit);
    assert.ok(chunks.length >= Math.ceil(visibleLength(whole) / limit), `${chunks.length} chunks`);
    for (const chunk of chunks) {
      assert.ok(visibleLength(chunk) <= limit && !hasLoneSurrogate(chunk));
      // A code block cut in two stays a code block in both.
      if (/\bconst v\d/.test(visibleText(chunk))) {
        assert.match(chunk, /<pre><code class="language-ts">/);
      }
    }
  }
  const chunks = split(whole);
  assert.ok(chunks.length >= 3, `${chunks.length} chunks`);
  // The plain fallback of each chunk, cut again, fits as well.
  for (const chunk of chunks) {
    for (const piece of splitPlain(htmlToPlain(chunk))) assert.ok(piece.length <= 4096);
  }
});

Deno.test("splitPlain() cuts plain text at the same boundaries and never inside a surrogate pair", () => {
  assert.deepEqual(splitPlain("first part\n\nsecond part", 15), ["first part", "second part"]);
  assert.deepEqual(splitPlain("a <b> & c", 100), ["a <b> & c"]);
  assert.deepEqual(splitPlain("😀😀😀", 5), ["😀😀", "😀"]);
  const long = plainFallback("word ".repeat(2000) + "\n\n" + "😀".repeat(3000));
  const pieces = splitPlain(long);
  for (const piece of pieces) {
    assert.ok(piece.length <= 4096 && !hasLoneSurrogate(piece));
  }
  assert.equal(pieces.join("").replace(/\s+/g, ""), long.replace(/\s+/g, ""));
});

Deno.test("a code block longer than a message is a code block in every part", () => {
  const lines = Array.from({ length: 400 }, (_, i) => `    step(${i}); // a < b && "c"`);
  const whole = html("```js\n" + lines.join("\n") + "\n```");
  const chunks = split(whole);
  assert.ok(chunks.length >= 3, `${chunks.length} chunks`);
  for (const chunk of chunks) {
    assert.match(chunk, /^<pre><code class="language-js">[^<]*<\/code><\/pre>$/);
  }
  // Cut at line ends: every line arrives whole, indentation and all.
  assert.deepEqual(chunks.flatMap((chunk) => visibleText(chunk).split("\n")), lines);
});

Deno.test("telegramMessages() sends markdown as checked HTML parts, each with a plain fallback", () => {
  const markdown = "## Plan\n\n" +
    "Read [the guide](https://example.com/guide) twice. ".repeat(300);
  const parts = telegramMessages({ text: markdown, format: "markdown" });
  assert.ok(parts.length >= 2);
  for (const part of parts) {
    assert.equal(part.parseMode, "HTML");
    assertTelegramHtml(part.text);
    assert.ok(part.fallback.length >= 1);
    for (const piece of part.fallback) {
      assert.ok(piece.length <= 4096);
      assert.ok(!piece.includes("<") && !piece.includes("&amp;"));
    }
  }
  assert.match(
    parts[0]!.fallback[0]!,
    /^Plan\n\nRead the guide \(https:\/\/example\.com\/guide\) twice\./,
  );
  assert.deepEqual(telegramMessages({ text: "**not markdown** & <b>", format: "plain" }), [
    { text: "**not markdown** & <b>", fallback: ["**not markdown** & <b>"] },
  ]);
  assert.deepEqual(telegramMessages({ text: "  " }), []);
});

Deno.test("random hostile markdown always converts and splits into valid Telegram HTML", () => {
  const pieces = [
    "*",
    "**",
    "_",
    "__",
    "`",
    "```",
    "```ts\n",
    "~~",
    "[",
    "]",
    "(",
    ")",
    "](https://x.org/a_(b)",
    "<",
    ">",
    "&",
    "&amp;",
    "\n",
    "\n\n",
    "- ",
    "1. ",
    "> ",
    "# ",
    "| a | b |\n|---|---|\n| ",
    " | ",
    "😀",
    "中文",
    "👨‍👩‍👧",
    " ",
    "word",
    "\\",
    "![i](",
    "<https://y.org>",
    "<a@b.c>",
    "    ",
    "||",
    "---\n",
    "\t",
    "é\u0301",
    "&#128512;",
    '"',
  ];
  let seed = 20261201;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let n = 0; n < 400; n++) {
    let markdown = "";
    for (let i = 1 + random(60); i > 0; i--) markdown += pieces[random(pieces.length)];
    const out = toTelegramHtml(markdown);
    if (out === "") continue;
    assert.deepEqual(telegramHtmlErrors(out, Infinity), [], JSON.stringify(markdown));
    for (const limit of [2, 5, 13, 40]) split(out, limit);
    for (const piece of splitPlain(plainFallback(markdown), 7)) assert.ok(piece.length <= 7);
  }
});
