import assert from "node:assert/strict";
import { readInbound } from "../../../lib/platforms/weixin/inbound.ts";

const BOT = "bot-1@im.bot";
const USER = "u-1@im.wechat";

/** A well-formed text message from USER to the bot, with `extra` fields over it. */
function message(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    message_id: "m1",
    from_user_id: USER,
    to_user_id: BOT,
    msg_type: 1,
    context_token: "ctx-1",
    item_list: [{ type: 1, text_item: { text: "hi" } }],
    ...extra,
  };
}

const media = (param: string) => ({
  encrypt_query_param: param,
  aes_key: btoa("00112233445566778899aabbccddeeff"),
  encrypt_type: 1,
});

Deno.test("readInbound() reads a direct message as a DM whose chat is the sender", () => {
  const read = readInbound(message(), BOT);
  assert.deepEqual(read, {
    messageId: "m1",
    from: USER,
    chatType: "dm",
    chatId: USER,
    contextToken: "ctx-1",
    text: "hi",
    media: [],
  });
});

Deno.test("readInbound() tells a group from a DM and answers the group's chat id", async (t) => {
  await t.step("room_id makes a group, and is the chat", () => {
    const read = readInbound(message({ room_id: "r1@chatroom" }), BOT);
    assert.equal(read?.chatType, "group");
    assert.equal(read?.chatId, "r1@chatroom");
    assert.equal(read?.from, USER);
  });
  await t.step("chat_room_id makes a group, and is the chat", () => {
    const read = readInbound(message({ chat_room_id: "r2@chatroom" }), BOT);
    assert.equal(read?.chatType, "group");
    assert.equal(read?.chatId, "r2@chatroom");
  });
  await t.step("room_id wins over to_user_id as the chat", () => {
    const read = readInbound(message({ room_id: "r3@chatroom", to_user_id: "other@x" }), BOT);
    assert.equal(read?.chatId, "r3@chatroom");
  });
  await t.step(
    "a to_user_id other than the account with msg_type 1 is a group on to_user_id",
    () => {
      const read = readInbound(message({ to_user_id: "g1@chatroom" }), BOT);
      assert.equal(read?.chatType, "group");
      assert.equal(read?.chatId, "g1@chatroom");
    },
  );
  await t.step("the same to_user_id with another msg_type is a DM with the sender", () => {
    const read = readInbound(message({ to_user_id: "g1@chatroom", msg_type: 2 }), BOT);
    assert.equal(read?.chatType, "dm");
    assert.equal(read?.chatId, USER);
  });
  await t.step("to_user_id equal to the account is a DM", () => {
    const read = readInbound(message({ to_user_id: BOT }), BOT);
    assert.equal(read?.chatType, "dm");
    assert.equal(read?.chatId, USER);
  });
  await t.step("without an account id, to_user_id does not make a group", () => {
    const read = readInbound(message({ to_user_id: "g1@chatroom" }), "");
    assert.equal(read?.chatType, "dm");
    assert.equal(read?.chatId, USER);
  });
  await t.step("no to_user_id is a DM", () => {
    const read = readInbound(message({ to_user_id: undefined }), BOT);
    assert.equal(read?.chatType, "dm");
  });
});

Deno.test("readInbound() drops a message with no sender, or from the bot itself", async (t) => {
  await t.step("no from_user_id", () => {
    assert.equal(readInbound(message({ from_user_id: undefined }), BOT), undefined);
  });
  await t.step("an empty or blank from_user_id", () => {
    assert.equal(readInbound(message({ from_user_id: "" }), BOT), undefined);
    assert.equal(readInbound(message({ from_user_id: "  " }), BOT), undefined);
  });
  await t.step(
    "no message_id is not a reason: an id is made of its content, the same each time",
    () => {
      const first = readInbound(message({ message_id: undefined }), BOT);
      assert.match(String(first?.messageId), /^h-[0-9a-f]{24}$/);
      assert.equal(
        readInbound(message({ message_id: undefined }), BOT)?.messageId,
        first?.messageId,
      );
      assert.equal(readInbound(message({ message_id: "" }), BOT)?.text, first?.text);
    },
  );
  await t.step("the bot's own message", () => {
    assert.equal(readInbound(message({ from_user_id: BOT }), BOT), undefined);
  });
  await t.step("a numeric message_id (or a seq without one) is an id", () => {
    assert.equal(readInbound(message({ message_id: 42 }), BOT)?.messageId, "42");
    assert.equal(readInbound(message({ message_id: undefined, seq: 7 }), BOT)?.messageId, "7");
  });
});

Deno.test("readInbound() takes the text of the first text item", () => {
  const read = readInbound(
    message({
      item_list: [
        { type: 2, image_item: { media: media("p1") } },
        { type: 1, text_item: { text: "first" } },
        { type: 1, text_item: { text: "second" } },
      ],
    }),
    BOT,
  );
  assert.equal(read?.text, "first");
});

Deno.test("readInbound() writes a quoted media message as [引用媒体: title]", async (t) => {
  const quotedImage = { type: 2, image_item: { media: media("q1") } };
  await t.step("with a title", () => {
    const read = readInbound(
      message({
        item_list: [{
          type: 1,
          text_item: { text: "look" },
          ref_msg: { title: "photo", message_item: quotedImage },
        }],
      }),
      BOT,
    );
    assert.equal(read?.text, "[引用媒体: photo]\nlook");
  });
  await t.step("without a title", () => {
    const read = readInbound(
      message({
        item_list: [{
          type: 1,
          text_item: { text: "look" },
          ref_msg: { message_item: quotedImage },
        }],
      }),
      BOT,
    );
    assert.equal(read?.text, "[引用媒体]\nlook");
  });
  await t.step("a ref_msg at the message level counts too", () => {
    const read = readInbound(
      message({ ref_msg: { title: "clip", message_item: { type: 5, video_item: {} } } }),
      BOT,
    );
    assert.equal(read?.text, "[引用媒体: clip]\nhi");
  });
});

Deno.test("readInbound() writes a quoted text as [引用: title | text], empty parts dropped", async (t) => {
  const withRef = (ref: unknown) =>
    readInbound(
      message({ item_list: [{ type: 1, text_item: { text: "yes" }, ref_msg: ref }] }),
      BOT,
    )?.text;
  const quoted = (text: string) => ({ type: 1, text_item: { text } });
  await t.step("title and text", () => {
    assert.equal(
      withRef({ title: "Ann", message_item: quoted("lunch?") }),
      "[引用: Ann | lunch?]\nyes",
    );
  });
  await t.step("no title", () => {
    assert.equal(withRef({ message_item: quoted("lunch?") }), "[引用: lunch?]\nyes");
    assert.equal(withRef({ title: "", message_item: quoted("lunch?") }), "[引用: lunch?]\nyes");
  });
  await t.step("no quoted text", () => {
    assert.equal(withRef({ title: "Ann" }), "[引用: Ann]\nyes");
    assert.equal(withRef({ title: "Ann", message_item: quoted("") }), "[引用: Ann]\nyes");
  });
  await t.step("neither: the text alone", () => {
    assert.equal(withRef({ title: "", message_item: quoted("") }), "yes");
    assert.equal(withRef({}), "yes");
  });
});

Deno.test("readInbound() writes Weixin's transcription of a voice message without audio", () => {
  const read = readInbound(
    message({ item_list: [{ type: 3, voice_item: { text: "call me back" } }] }),
    BOT,
  );
  assert.equal(read?.text, "[Voice transcription provided by Weixin]\ncall me back");
  assert.deepEqual(read?.media, []);
});

Deno.test("readInbound() gives a voice message with audio no text and a voice file", () => {
  const read = readInbound(
    message({
      item_list: [{ type: 3, voice_item: { text: "call me back", media: media("v1") } }],
    }),
    BOT,
  );
  assert.equal(read?.text, "");
  assert.deepEqual(read?.media, [{ kind: "voice", media: media("v1"), name: "voice.silk" }]);
});

Deno.test("readInbound() refers to the files of image, file and video items", async (t) => {
  await t.step("an image, whose own aeskey wins over media.aes_key", () => {
    const read = readInbound(
      message({
        item_list: [{
          type: 2,
          image_item: { media: media("i1"), aeskey: "ffeeddccbbaa99887766554433221100" },
        }],
      }),
      BOT,
    );
    assert.deepEqual(read?.media, [{
      kind: "image",
      media: media("i1"),
      hexKey: "ffeeddccbbaa99887766554433221100",
    }]);
    assert.equal(read?.text, "");
  });
  await t.step("an image without its own key uses the media's", () => {
    const read = readInbound(
      message({ item_list: [{ type: 2, image_item: { media: media("i2") } }] }),
      BOT,
    );
    assert.deepEqual(read?.media, [{ kind: "image", media: media("i2") }]);
  });
  await t.step("a file keeps its file_name", () => {
    const read = readInbound(
      message({
        item_list: [{ type: 4, file_item: { media: media("f1"), file_name: "a.pdf", len: "3" } }],
      }),
      BOT,
    );
    assert.deepEqual(read?.media, [{ kind: "file", media: media("f1"), name: "a.pdf" }]);
  });
  await t.step("a video", () => {
    const read = readInbound(
      message({ item_list: [{ type: 5, video_item: { media: media("x1") } }] }),
      BOT,
    );
    assert.deepEqual(read?.media, [{ kind: "video", media: media("x1") }]);
  });
  await t.step("a media with only a full_url", () => {
    const only = { full_url: "https://novac2c.cdn.weixin.qq.com/c2c/download?x=1" };
    const read = readInbound(
      message({ item_list: [{ type: 2, image_item: { media: only } }] }),
      BOT,
    );
    assert.deepEqual(read?.media, [{ kind: "image", media: only }]);
  });
  await t.step("an item whose media names no file refers to none", () => {
    const read = readInbound(
      message({ item_list: [{ type: 2, image_item: { media: { aes_key: "k" } } }] }),
      BOT,
    );
    assert.deepEqual(read?.media, []);
  });
  await t.step("every item in order", () => {
    const read = readInbound(
      message({
        item_list: [
          { type: 2, image_item: { media: media("a") } },
          { type: 5, video_item: { media: media("b") } },
        ],
      }),
      BOT,
    );
    assert.deepEqual(read?.media.map((ref) => ref.kind), ["image", "video"]);
  });
});

Deno.test("readInbound() refers to the file of a quoted media item", () => {
  const read = readInbound(
    message({
      item_list: [{
        type: 1,
        text_item: { text: "what is this?" },
        ref_msg: {
          title: "doc",
          message_item: { type: 4, file_item: { media: media("qf"), file_name: "q.pdf" } },
        },
      }],
    }),
    BOT,
  );
  assert.equal(read?.text, "[引用媒体: doc]\nwhat is this?");
  assert.deepEqual(read?.media, [{ kind: "file", media: media("qf"), name: "q.pdf" }]);
});

Deno.test("readInbound() never throws on malformed input", async (t) => {
  const cases: [string, unknown][] = [
    ["null", null],
    ["a number", 5],
    ["a string", "message"],
    ["an array", [message()]],
    ["numbers for ids", { message_id: 1, from_user_id: 2, to_user_id: 3, msg_type: "1" }],
    ["item_list an object", message({ item_list: { type: 1 } })],
    ["item_list a string", message({ item_list: "hi" })],
    ["item_list null", message({ item_list: null })],
    ["items of the wrong shape", message({ item_list: [null, 3, "x", [], { type: "1" }] })],
    ["null fields in items", message({ item_list: [{ type: 1, text_item: null, ref_msg: null }] })],
    ["a text of the wrong type", message({ item_list: [{ type: 1, text_item: { text: 5 } }] })],
    [
      "media of the wrong type",
      message({
        item_list: [
          { type: 2, image_item: { media: [1, 2], aeskey: 5 } },
          { type: 4, file_item: "f" },
          { type: 3, voice_item: { text: [], media: null } },
          { type: 5, video_item: { media: { encrypt_query_param: 7 } } },
        ],
      }),
    ],
    [
      "a ref_msg of the wrong shape",
      message({
        ref_msg: { title: 4, message_item: [] },
        item_list: [{ type: 1, text_item: { text: "x" }, ref_msg: "quote" }],
      }),
    ],
    [
      "a quoted item of the wrong shape",
      message({
        item_list: [{
          type: 1,
          text_item: { text: "x" },
          ref_msg: { title: null, message_item: { type: 2, image_item: null } },
        }],
      }),
    ],
    ["room ids of the wrong type", message({ room_id: 5, chat_room_id: null })],
  ];
  for (const [name, raw] of cases) {
    await t.step(name, () => {
      const read = readInbound(raw, BOT);
      if (read !== undefined) {
        assert.equal(typeof read.text, "string");
        assert.ok(Array.isArray(read.media));
        assert.equal(typeof read.chatId, "string");
      }
    });
  }
  await t.step("a non-array item_list reads as a message with no text", () => {
    assert.deepEqual(readInbound(message({ item_list: { type: 1 } }), BOT)?.text, "");
  });
  await t.step("numeric sender ids are no sender", () => {
    assert.equal(readInbound({ message_id: "m", from_user_id: 2 }, BOT), undefined);
  });
  await t.step("a room_id that is not text does not make a group", () => {
    assert.equal(readInbound(message({ room_id: 5 }), BOT)?.chatType, "dm");
  });
  await t.step("a media of the wrong type in an image item is no file", () => {
    const read = readInbound(
      message({ item_list: [{ type: 2, image_item: { media: [1] } }] }),
      BOT,
    );
    assert.deepEqual(read?.media, []);
  });
});
