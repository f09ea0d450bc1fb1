import assert from "node:assert/strict";
import { outboundMedia } from "../../lib/gateway/outbound_media.ts";
import { tempDir } from "../_helpers.ts";

Deno.test("MEDIA: lines name files to send; only files inside the allowed folders go", async () => {
  await using dir = tempDir();
  const reports = `${dir.path}/reports`;
  await Deno.mkdir(reports);
  await Deno.writeFile(`${reports}/q3.pdf`, new TextEncoder().encode("%PDF-1.7 numbers"));
  await Deno.writeTextFile(`${dir.path}/secret.env`, "TOKEN=1");
  await Deno.symlink(`${dir.path}/secret.env`, `${reports}/innocent.txt`);
  const media = await outboundMedia(
    [
      "Here is the report.",
      `MEDIA:${reports}/q3.pdf`,
      "MEDIA: /etc/passwd",
      `MEDIA:${reports}/../secret.env`,
      `MEDIA:${reports}/innocent.txt`,
      `MEDIA:${reports}/missing.pdf`,
      "Anything else?",
    ].join("\n"),
    [reports],
  );
  assert.equal(media.text, "Here is the report.\nAnything else?");
  assert.deepEqual(media.files.map((f) => [f.kind, f.mime, f.name, f.size]), [
    ["file", "application/pdf", "q3.pdf", 16],
  ]);
  assert.deepEqual(media.refused.map((r) => [r.path, r.why]), [
    ["/etc/passwd", "outside the media cache and agent.media_dirs"],
    [`${reports}/../secret.env`, "outside the media cache and agent.media_dirs"],
    [`${reports}/innocent.txt`, "outside the media cache and agent.media_dirs"],
    [`${reports}/missing.pdf`, "no such file"],
  ]);
});

Deno.test("a reply without MEDIA: lines is left as it is", async () => {
  const text = "MEDIA is a word\n  MEDIA:indented is not a line of its own";
  assert.deepEqual(await outboundMedia(text, []), { text, files: [], refused: [] });
});

Deno.test("a file that cannot be read is refused, not the reply's end; with a cache, a copy is what goes", async () => {
  await using dir = tempDir();
  const folder = `${dir.path}/out`;
  await Deno.mkdir(folder);
  await Deno.writeTextFile(`${folder}/locked.txt`, "secret");
  await Deno.writeTextFile(`${folder}/fine.txt`, "fine");
  const kept: string[] = [];
  const media = await outboundMedia(
    `a\nMEDIA:${folder}/locked.txt\nMEDIA:${folder}/fine.txt`,
    [folder],
    (bytes, name) => {
      if (name === "locked.txt") throw new Deno.errors.PermissionDenied("Permission denied");
      kept.push(new TextDecoder().decode(bytes));
      return Promise.resolve({
        kind: "file",
        mime: "text/plain",
        name,
        size: bytes.length,
        path: `/cache/${name}`,
      });
    },
  );
  assert.deepEqual(
    media.files.map((f) => f.path),
    ["/cache/fine.txt"],
    "the copy, not the original",
  );
  assert.deepEqual(kept, ["fine"]);
  assert.deepEqual(media.refused.map((r) => r.why), ["cannot read it: Permission denied"]);
  assert.equal(media.text, "a");
});
