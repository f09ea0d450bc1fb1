import assert from "node:assert/strict";
import { EntityParseError } from "./_telegram_entities.ts";
import { parseHtml } from "./_telegram_html.ts";
import { parseMarkdown } from "./_telegram_markdown.ts";

function fails(parse: (text: string) => unknown, text: string): string {
  try {
    parse(text);
  } catch (error) {
    assert.ok(error instanceof EntityParseError, `${error}`);
    return error.message;
  }
  assert.fail(`${JSON.stringify(text)} parsed`);
}

Deno.test("parseHtml maps every supported tag to its entity, offsets in UTF-16 units", () => {
  const html = "😀<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s>" +
    '<strike>k</strike><del>d</del><tg-spoiler>p</tg-spoiler><span class="tg-spoiler">q</span>' +
    "<code>c</code><blockquote>q</blockquote><blockquote expandable>x</blockquote>";
  const { text, entities } = parseHtml(html);
  assert.equal(text, "😀bsieunskdpqcqx");
  assert.deepEqual(entities.map((e) => [e.type, e.offset, e.length]), [
    ["bold", 2, 1],
    ["bold", 3, 1],
    ["italic", 4, 1],
    ["italic", 5, 1],
    ["underline", 6, 1],
    ["underline", 7, 1],
    ["strikethrough", 8, 1],
    ["strikethrough", 9, 1],
    ["strikethrough", 10, 1],
    ["spoiler", 11, 1],
    ["spoiler", 12, 1],
    ["code", 13, 1],
    ["blockquote", 14, 1],
    ["expandable_blockquote", 15, 1],
  ]);
});

Deno.test("parseHtml: links, pre with a language, custom emoji", () => {
  assert.deepEqual(parseHtml('<a href="https://e.com/?a=1&amp;b=2">x</a>').entities, [
    { type: "text_link", offset: 0, length: 1, url: "https://e.com/?a=1&b=2" },
  ]);
  assert.deepEqual(parseHtml('<pre><code class="language-ts">let a = 1;</code></pre>'), {
    text: "let a = 1;",
    entities: [{ type: "pre", offset: 0, length: 10, language: "ts" }],
  });
  assert.deepEqual(parseHtml('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>').entities, [
    { type: "custom_emoji", offset: 0, length: 2, custom_emoji_id: "5368324170671202286" },
  ]);
});

Deno.test("parseHtml decodes the four named entities and numeric ones; others stay literal", () => {
  assert.equal(parseHtml("&lt;&gt;&amp;&quot;&#65;&#x1F600;").text, '<>&"A😀');
  assert.equal(parseHtml("AT&T &nbsp; a > b").text, "AT&T &nbsp; a > b");
});

Deno.test("parseHtml refuses <br>, <p>, a bare < and broken tags with TDLib's wording", () => {
  assert.equal(fails(parseHtml, "a<br>b"), 'Unsupported start tag "br" at byte offset 1');
  assert.equal(fails(parseHtml, "<p>x</p>"), 'Unsupported start tag "p" at byte offset 0');
  assert.equal(fails(parseHtml, "é < b"), 'Unsupported start tag "" at byte offset 3');
  assert.equal(
    fails(parseHtml, "mail <ada@e.com>"),
    'Unsupported start tag "ada@e.com" at byte offset 5',
  );
  assert.equal(fails(parseHtml, "x <b"), "Unclosed start tag at byte offset 2");
  assert.equal(
    fails(parseHtml, "<b>x</i>"),
    'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"',
  );
  assert.equal(fails(parseHtml, "<b>x"), 'Can\'t find end tag corresponding to start tag "b"');
  assert.equal(fails(parseHtml, "x</b>"), "Unexpected end tag at byte offset 1");
  assert.equal(
    fails(parseHtml, '<span class="x">y</span>'),
    'Tag "span" must have class "tg-spoiler" at byte offset 0',
  );
});

Deno.test("parseMarkdown (legacy) reads * _ ` ``` and links, and reports an unclosed one", () => {
  assert.deepEqual(parseMarkdown("*b* _i_ `c` [l](https://e.com) a.b"), {
    text: "b i c l a.b",
    entities: [
      { type: "bold", offset: 0, length: 1 },
      { type: "italic", offset: 2, length: 1 },
      { type: "code", offset: 4, length: 1 },
      { type: "text_link", offset: 6, length: 1, url: "https://e.com" },
    ],
  });
  assert.equal(
    fails(parseMarkdown, "é *bold"),
    "Can't find end of the entity starting at byte offset 3",
  );
});
