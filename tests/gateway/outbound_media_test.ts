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
