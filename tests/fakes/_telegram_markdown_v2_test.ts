import assert from "node:assert/strict";
import { EntityParseError } from "./_telegram_entities.ts";
import { parseMarkdownV2 } from "./_telegram_markdown_v2.ts";

function fails(text: string): string {
  try {
    parseMarkdownV2(text);
  } catch (error) {
    assert.ok(error instanceof EntityParseError, `${error}`);
    return error.message;
  }
  assert.fail(`${JSON.stringify(text)} parsed`);
}

Deno.test("parseMarkdownV2 strips the markup and gives each entity in UTF-16 units", () => {
  assert.deepEqual(parseMarkdownV2("😀 *bold* _it_ __under__ ~s~ ||sp|| `c`"), {
    text: "😀 bold it under s sp c",
    entities: [
      { type: "bold", offset: 3, length: 4 },
      { type: "italic", offset: 8, length: 2 },
      { type: "underline", offset: 11, length: 5 },
      { type: "strikethrough", offset: 17, length: 1 },
      { type: "spoiler", offset: 19, length: 2 },
      { type: "code", offset: 22, length: 1 },
    ],
  });
});

Deno.test("parseMarkdownV2 reads __ as underline first, so ___x_**__ is italic inside underline", () => {
  assert.deepEqual(parseMarkdownV2("___italic underline_**__").entities, [
    { type: "italic", offset: 0, length: 16 },
    { type: "underline", offset: 0, length: 16 },
  ]);
});

Deno.test("each of the 18 reserved characters must be escaped outside code", async (t) => {
  for (const c of "_*[]()~`>#+-=|{}.!") {
    await t.step(c, () => {
      assert.equal(parseMarkdownV2(`a\\${c}b`).text, `a${c}b`);
    });
  }
  for (const c of "]()#+-=|{}.!") {
    assert.equal(
      fails(`x ${c} y`),
      `Character '${c}' is reserved and must be escaped with the preceding '\\'`,
      c,
    );
  }
  assert.equal(fails("in the middle > of a line"), fails("a > b"));
});

Deno.test("inside code and pre only ` needs escaping; \\ still escapes", () => {
  assert.deepEqual(parseMarkdownV2("`a.b_c*d\\`e`"), {
    text: "a.b_c*d`e",
    entities: [{ type: "code", offset: 0, length: 9 }],
  });
  assert.deepEqual(parseMarkdownV2("```python\nprint(1.5)\n```"), {
    text: "print(1.5)\n",
    entities: [{ type: "pre", offset: 0, length: 11, language: "python" }],
  });
  assert.deepEqual(parseMarkdownV2("```\nx.y```").entities, [{
    type: "pre",
    offset: 0,
    length: 3,
  }]);
});

Deno.test("links: only ) and \\ need escaping inside (…); a bad target drops the entity", () => {
  assert.deepEqual(parseMarkdownV2("[site](https://e.com/a_(b\\)?x=1.2)"), {
    text: "site",
    entities: [{ type: "text_link", offset: 0, length: 4, url: "https://e.com/a_(b)?x=1.2" }],
  });
  assert.deepEqual(parseMarkdownV2("[Ada](tg://user?id=1001)").entities, [
    { type: "text_mention", offset: 0, length: 3, user: { id: 1001 } },
  ]);
  assert.deepEqual(parseMarkdownV2("[x](not a url)"), { text: "x", entities: [] });
  assert.equal(fails("[x](https://e.com"), "Can't find end of a URL at byte offset 4");
});

Deno.test("an unclosed entity names its kind and its UTF-8 byte offset", () => {
  assert.equal(fails("hello _world"), "Can't find end of Italic entity at byte offset 6");
  assert.equal(fails("héllo _wörld"), "Can't find end of Italic entity at byte offset 7");
  assert.equal(fails("😀 *x"), "Can't find end of Bold entity at byte offset 5");
  assert.equal(fails("__u"), "Can't find end of Underline entity at byte offset 0");
  assert.equal(fails("```js\nx"), "Can't find end of PreCode entity at byte offset 0");
  assert.equal(fails("[link"), "Can't find end of TextUrl entity at byte offset 0");
  assert.equal(
    fails("a|b"),
    "Character '|' is reserved and must be escaped with the preceding '\\'",
  );
});

Deno.test("quotes: > lines are a blockquote, **> … || an expandable one", () => {
  assert.deepEqual(parseMarkdownV2(">one\n>two\nafter"), {
    text: "one\ntwo\nafter",
    entities: [{ type: "blockquote", offset: 0, length: 7 }],
  });
  assert.deepEqual(parseMarkdownV2("**>hidden\n>more||\nz"), {
    text: "hidden\nmore\nz",
    entities: [{ type: "expandable_blockquote", offset: 0, length: 11 }],
  });
});

Deno.test("empty entities are left out and a trailing lone backslash is text", () => {
  assert.deepEqual(parseMarkdownV2("a**b"), { text: "ab", entities: [] });
  assert.deepEqual(parseMarkdownV2("end\\"), { text: "end\\", entities: [] });
});
