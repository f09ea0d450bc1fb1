/**
 * `sessions search` over a large transcript (`deno task bench`): fills a
 * state.db with BENCH_MESSAGES messages (default 1,000,000; half English,
 * half Chinese, generated deterministically) and indexes them, then times queries through the
 * library (median of 20) and through the CLI as a fresh process (median of 5).
 *
 * @module
 */

import { cliRunFlags } from "../../scripts/permissions.ts";
import { SessionStore } from "../../lib/storage/sqlite/sessions.ts";
import { TranscriptStore } from "../../lib/storage/sqlite/transcripts.ts";
import { SearchIndex } from "../../lib/storage/sqlite/search_index.ts";
import { openDatabase, transaction } from "../../lib/storage/sqlite/database.ts";
import { STATE_MIGRATIONS } from "../../lib/storage/sqlite/migrations.ts";

const MESSAGES = Number(Deno.env.get("BENCH_MESSAGES") ?? 1_000_000);
const root = new URL("../../", import.meta.url).pathname;
const home = Deno.makeTempDirSync({ prefix: "hermes-search-" });

const english =
  "the a report meeting deploy server quarterly budget coffee later please check review"
    .split(" ");
const chinese = "今天 天气 很好 我们 去 公园 散步 明天 可能 下雨 会议 报告 服务器 部署 预算 咖啡"
  .split(" ");
// mulberry32: small, fast, and well spread (a float LCG degenerates past 2^53).
let seed = 42;
const random = (n: number) => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return (((t ^ (t >>> 14)) >>> 0) % n);
};
const sentence = (words: string[], join: string) =>
  Array.from({ length: 6 + random(10) }, () => words[random(words.length)]).join(join);

const db = openDatabase(`${home}/state.db`, STATE_MIGRATIONS);
const sessions = new SessionStore(db);
const transcripts = new TranscriptStore(db);
const sessionIds = Array.from({ length: 1000 }, (_, i) => {
  const source = { platform: i % 2 ? "weixin" : "local", chatType: "dm" as const, chatId: `u${i}` };
  return sessions.open(`agent:main:${source.platform}:dm:${source.chatId}`, source).id;
});
const fillStart = performance.now();
for (let done = 0; done < MESSAGES;) {
  const batch = Math.min(10_000, MESSAGES - done);
  transaction(db, () => {
    for (let i = 0; i < batch; i++, done++) {
      const cjk = done % 2 === 1;
      transcripts.appendInTransaction({
        sessionId: sessionIds[done % sessionIds.length]!,
        platform: done % 2 ? "weixin" : "local",
        role: done % 3 ? "user" : "assistant",
        text: cjk ? sentence(chinese, "") : sentence(english, " "),
      });
    }
  });
}
const fillSeconds = (performance.now() - fillStart) / 1000;
// Rare needles, so that selective queries have something specific to find.
transcripts.append({
  sessionId: sessionIds[0]!,
  platform: "local",
  role: "user",
  text: "zebra crossing",
});
transcripts.append({
  sessionId: sessionIds[1]!,
  platform: "weixin",
  role: "user",
  text: "长城很长",
});
// The gateway's indexer works in batches of 256 in the background; here, as fast as it goes.
const index = new SearchIndex(db);
const indexStart = performance.now();
while (transaction(db, () => index.catchUp(10_000)) > 0);
const indexSeconds = (performance.now() - indexStart) / 1000;
db.close();

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const queries = ["zebra", "quarterly", "长城很", "天气很", "天气", "长城", "雨"];
const reader = openDatabase(`${home}/state.db`, STATE_MIGRATIONS);
const store = new TranscriptStore(reader);
console.log(
  `sessions search over ${MESSAGES.toLocaleString("en")} messages (filled in ${
    fillSeconds.toFixed(0)
  } s, indexed in ${indexSeconds.toFixed(0)} s, db ${
    (Deno.statSync(`${home}/state.db`).size / 2 ** 20).toFixed(0)
  } MiB)`,
);
console.log("query        library median   CLI median (fresh process, limit 20)");
for (const query of queries) {
  const inProcess = median(Array.from({ length: 20 }, () => {
    const start = performance.now();
    store.search(query, { limit: 20 });
    return performance.now() - start;
  }));
  const cli = median(Array.from({ length: 5 }, () => {
    const start = performance.now();
    new Deno.Command(Deno.execPath(), {
      args: ["run", ...cliRunFlags(), `${root}cli/main.ts`, "sessions", "search", query],
      env: { HERMES_HOME: home, NO_COLOR: "1" },
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return performance.now() - start;
  }));
  console.log(
    `${query.padEnd(12)} ${inProcess.toFixed(1).padStart(10)} ms ${cli.toFixed(1).padStart(12)} ms`,
  );
}
reader.close();
Deno.removeSync(home, { recursive: true });
