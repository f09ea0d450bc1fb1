import assert from "node:assert/strict";
import { describeSend } from "../../cli/send.ts";
import type { SendAnswer } from "../../lib/gateway/operator_send.ts";
import type { OutboxPart } from "../../lib/storage/state_store.ts";

function part(fields: Partial<OutboxPart> = {}): OutboxPart {
  return {
    id: 7,
    inboundId: 3,
    part: 0,
    platform: "wecom",
    chatKey: '["wecom","team",""]',
    target: { platform: "wecom", chatType: "group", chatId: "team" },
    replyTo: null,
    text: "hello",
    format: "plain",
    idempotencyKey: "inbound:3#0",
    editOf: null,
    state: "queued",
    attempts: 0,
    notBefore: null,
    waitingForInbound: false,
    deadline: "2026-06-02T10:00:00.000Z",
    platformMessageId: null,
    lastCode: null,
    lastError: null,
    attachments: [],
    shownText: null,
    ...fields,
  };
}

function answer(parts: OutboxPart[], more: Partial<SendAnswer> = {}): SendAnswer {
  return { parts, connected: true, heldBy: null, ...more };
}

Deno.test("describeSend() says in one line what became of the first part, and the exit code", async (t) => {
  const cases: [string, SendAnswer, string, number][] = [
    ["sent", answer([part({ state: "sent", platformMessageId: "m-1" })]), "sent: m-1", 0],
    [
      "sent, more parts to come",
      answer([part({ state: "sent", platformMessageId: "m-1" }), part({ id: 8, part: 1 })]),
      "sent: m-1 (1 of 2 parts so far)",
      0,
    ],
    ["sent by a platform that gives no id", answer([part({ state: "sent" })]), "sent", 0],
    [
      "deferred until the chat's next message",
      answer([part({ state: "deferred", waitingForInbound: true })]),
      "queued: waiting for the chat's next message",
      0,
    ],
    [
      "deferred until a time",
      answer([
        part({ state: "deferred", notBefore: "2026-06-01T10:05:00.000Z", lastError: "quota" }),
      ]),
      "queued: deferred until 2026-06-01T10:05:00.000Z (quota)",
      0,
    ],
    [
      "failed, retrying",
      answer([part({
        state: "failed",
        notBefore: "2026-06-01T10:00:03.000Z",
        lastCode: "429",
        lastError: "Too Many Requests",
      })]),
      "queued: will retry at 2026-06-01T10:00:03.000Z (429: Too Many Requests)",
      0,
    ],
    [
      "undeliverable",
      answer([part({ state: "undeliverable", lastCode: "403", lastError: "blocked" })]),
      "undeliverable: 403: blocked",
      1,
    ],
    [
      "the link is down",
      answer([part()], { connected: false }),
      "queued: waiting for wecom to connect",
      0,
    ],
    [
      "behind an earlier part that waits for the chat",
      answer([part()], { heldBy: part({ id: 5, state: "deferred", waitingForInbound: true }) }),
      "queued: waiting for the chat's next message (behind an earlier reply)",
      0,
    ],
  ];
  for (const [what, given, line, exitCode] of cases) {
    await t.step(what, () => assert.deepEqual(describeSend(given), { line, exitCode }));
  }
});
