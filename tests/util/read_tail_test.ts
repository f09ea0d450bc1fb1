import assert from "node:assert/strict";
import { readTail } from "../../lib/util/read_tail.ts";

/** A stream of `chunks` chunks of `size` bytes of "x", then `last`. */
function flood(chunks: number, size: number, last: string): ReadableStream<Uint8Array> {
  const block = new TextEncoder().encode("x".repeat(size));
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent++ < chunks) controller.enqueue(block);
      else {
        controller.enqueue(new TextEncoder().encode(last));
        controller.close();
      }
    },
  });
}

Deno.test("readTail() keeps only the last characters of a stream of many MiB", async () => {
  const tail = await readTail(flood(512, 64 * 1024, "\nfinal words\n").getReader(), 4096);
  assert.equal(tail.length, 4096);
  assert.ok(tail.endsWith("x\nfinal words\n"));
});

Deno.test("readTail() returns a short stream whole, across chunks", async () => {
  assert.equal(await readTail(flood(3, 2, "!").getReader(), 4096), "xxxxxx!");
});

Deno.test("readTail() keeps characters split across chunks whole", async () => {
  const bytes = new TextEncoder().encode("错误: 文件丢失");
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const byte of bytes) controller.enqueue(new Uint8Array([byte]));
      controller.close();
    },
  });
  assert.equal(await readTail(stream.getReader(), 5), " 文件丢失");
});

Deno.test("readTail() returns what was read when the stream fails", async () => {
  let step = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (step++ === 0) controller.enqueue(new TextEncoder().encode("partial"));
      else controller.error(new Error("pipe broke"));
    },
  });
  assert.equal(await readTail(stream.getReader(), 100), "partial");
});

Deno.test("readTail() refuses a limit that is not positive", async () => {
  await assert.rejects(readTail(flood(0, 1, "").getReader(), 0), RangeError);
});
