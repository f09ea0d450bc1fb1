import assert from "node:assert/strict";
import { tempDir } from "../../_helpers.ts";
import { IlinkServer } from "../../fakes/ilink_server.ts";
import { readAccount } from "../../../lib/platforms/weixin/accounts.ts";
import {
  type LoginClock,
  type LoginEvent,
  qrLogin,
  type QrLoginOptions,
  redirectBase,
  WeixinLoginError,
} from "../../../lib/platforms/weixin/login.ts";
import { loginReporter, renderTerminalQr } from "../../../lib/platforms/weixin/login_output.ts";
import { decodeTerminalQr, qrRows, stripSgr } from "./_terminal_qr.ts";

/** A clock whose sleeps return at once and move its time on: polls run back to back. */
function virtualClock(): LoginClock & { slept: number[] } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep(ms, signal) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      slept.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
}

/** Runs a login against the simulator in a temporary home; answers what it saw. */
function login(
  ilink: IlinkServer,
  stateDir: string,
  more: Partial<QrLoginOptions> = {},
) {
  const events: LoginEvent[] = [];
  const clock = virtualClock();
  const run = qrLogin({
    baseUrl: ilink.url,
    stateDir,
    clock,
    onEvent: (event) => void events.push(event),
    ...more,
  });
  return { run, events, clock };
}

async function noAccountFiles(stateDir: string): Promise<boolean> {
  try {
    for await (const _ of Deno.readDir(`${stateDir}/accounts`)) return false;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return true;
}

async function failure(run: Promise<unknown>): Promise<WeixinLoginError> {
  try {
    await run;
  } catch (error) {
    assert.ok(error instanceof WeixinLoginError, String(error));
    return error;
  }
  throw new Error("the login succeeded");
}

const URL_LIKE_WEIXIN =
  "https://liteapp.weixin.qq.com/q/7GiQu1?qrcode=ccf1fb71f1d6f7d8a3f0b3c3b0ff0d5e&bot_type=3";

Deno.test("renderTerminalQr() draws a code that scans on a light and a dark theme within 80 columns", async () => {
  const picture = await renderTerminalQr(URL_LIKE_WEIXIN);
  assert.equal(decodeTerminalQr(picture, "light"), URL_LIKE_WEIXIN);
  assert.equal(decodeTerminalQr(picture, "dark"), URL_LIKE_WEIXIN);
  const widths = qrRows(picture).map((row) => [...row].length);
  assert.ok(Math.max(...widths) <= 80, `widths ${widths}`);
  assert.ok(picture.endsWith("\x1b[0m\n"), "the colours are reset after the last row");
  // Without its colours the same drawing is inverted on a dark theme: they are what makes it scan.
  assert.equal(decodeTerminalQr(stripSgr(picture), "dark"), undefined);
});

Deno.test("qrLogin() follows wait, scaned and confirmed and saves the account 0600", async () => {
  await using home = tempDir();
  await using ilink = await IlinkServer.start();
  ilink.qrScript([{ status: "wait" }, { status: "wait" }, { status: "scaned" }, {
    status: "confirmed",
    userId: "owner@im.wechat",
  }]);
  const stateDir = `${home.path}/platforms/weixin`;
  const { run, events, clock } = login(ilink, stateDir);
  const result = await run;
  assert.deepEqual(result, {
    accountId: ilink.accountId,
    userId: "owner@im.wechat",
    baseUrl: ilink.url,
    accountFile: `${stateDir}/accounts/${ilink.accountId}.json`,
  });
  assert.deepEqual(events.map((e) => e.type), ["qrcode", "wait", "wait", "scanned"]);
  assert.deepEqual(events[0], { type: "qrcode", url: simulatorQrUrl(1), refresh: 0 });
  assert.equal((await Deno.stat(result.accountFile)).mode! & 0o777, 0o600);
  const saved = await readAccount(stateDir, ilink.accountId);
  assert.equal(saved?.token, ilink.token);
  assert.equal(saved?.base_url, ilink.url);
  assert.equal(saved?.user_id, "owner@im.wechat");
  assert.match(saved?.saved_at ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.ok(clock.slept.every((ms) => ms === 1000), `slept ${clock.slept}`);
  const polls = ilink.requestsTo("get_qrcode_status");
  assert.equal(polls.length, 4);
  assert.ok(polls.every((r) => r.query.get("qrcode") === "qr-1"));
  assert.equal(ilink.requestsTo("get_bot_qrcode")[0]?.query.get("bot_type"), "3");
});

Deno.test("qrLogin() polls the redirect host from then on, with the configured scheme", async () => {
  await using home = tempDir();
  await using ilink = await IlinkServer.start();
  ilink.qrScript([
    { status: "scaned_but_redirect", redirectHost: ilink.redirectHost },
    { status: "expired" },
    { status: "scaned" },
    { status: "confirmed" },
  ]);
  const { run, events } = login(ilink, `${home.path}/platforms/weixin`);
  await run;
  assert.deepEqual(events.map((e) => e.type), [
    "qrcode",
    "redirect",
    "expired",
    "qrcode",
    "scanned",
  ]);
  assert.deepEqual(events[1], {
    type: "redirect",
    host: ilink.redirectHost,
    baseUrl: ilink.redirectUrl,
  });
  const seen = ilink.requests.map((r) => `${r.endpoint}${r.via ? ` via ${r.via}` : ""}`);
  assert.deepEqual(seen, [
    "get_bot_qrcode",
    "get_qrcode_status",
    "get_qrcode_status via redirect",
    "get_bot_qrcode", // new codes come from the configured base
    "get_qrcode_status via redirect",
    "get_qrcode_status via redirect",
  ]);
});

Deno.test("redirectBase() keeps the configured scheme and refuses what is no host", () => {
  assert.equal(
    redirectBase("https://ilinkai.weixin.qq.com", "sz.ilinkai.weixin.qq.com"),
    "https://sz.ilinkai.weixin.qq.com",
  );
  assert.equal(redirectBase("http://127.0.0.1:4000", "127.0.0.1:4001"), "http://127.0.0.1:4001");
  assert.equal(redirectBase("https://a.example", "http://b.example:81/"), "http://b.example:81");
  assert.equal(redirectBase("https://a.example", ""), undefined);
  assert.equal(redirectBase("https://a.example", "user:pw@b.example"), undefined);
  assert.equal(redirectBase("https://a.example", "b example"), undefined);
});

Deno.test("qrLogin() shows a new code after each of 3 expiries and fails on the 4th, saving nothing", async (t) => {
  await t.step("3 expiries, then confirmed", async () => {
    await using home = tempDir();
    await using ilink = await IlinkServer.start();
    ilink.qrScript([
      { status: "expired" },
      { status: "expired" },
      { status: "expired" },
      { status: "confirmed" },
    ]);
    const { run, events } = login(ilink, `${home.path}/platforms/weixin`);
    await run;
    const codes = events.flatMap((e) => e.type === "qrcode" ? [e.refresh] : []);
    assert.deepEqual(codes, [0, 1, 2, 3]);
    assert.deepEqual(
      ilink.requestsTo("get_qrcode_status").map((r) => r.query.get("qrcode")),
      ["qr-1", "qr-2", "qr-3", "qr-4"],
    );
  });
  await t.step("4 expiries", async () => {
    await using home = tempDir();
    await using ilink = await IlinkServer.start();
    ilink.qrScript([{ status: "expired" }]);
    const stateDir = `${home.path}/platforms/weixin`;
    const { run, events } = login(ilink, stateDir);
    const error = await failure(run);
    assert.equal(error.reason, "expired");
    assert.match(error.message, /expired 4 times/);
    assert.deepEqual(
      events.flatMap((e) => e.type === "expired" ? [`${e.count}/${e.max}`] : []),
      ["1/3", "2/3", "3/3", "4/3"],
    );
    assert.equal(ilink.requestsTo("get_bot_qrcode").length, 4);
    assert.ok(await noAccountFiles(stateDir));
  });
});

Deno.test("qrLogin() times out on its deadline with a typed error, saving nothing", async () => {
  await using home = tempDir();
  await using ilink = await IlinkServer.start();
  const stateDir = `${home.path}/platforms/weixin`;
  const { run, clock } = login(ilink, stateDir, { timeoutMs: 5_000 });
  const error = await failure(run);
  assert.equal(error.reason, "timeout");
  assert.equal(error.code, "weixin_login_timeout");
  assert.match(error.message, /timed out after 5 s/);
  assert.equal(clock.slept.reduce((a, b) => a + b, 0), 5_000);
  assert.equal(ilink.requestsTo("get_qrcode_status").length, 4);
  assert.ok(await noAccountFiles(stateDir));
});

Deno.test("qrLogin() counts poll errors as waiting", async () => {
  await using home = tempDir();
  await using ilink = await IlinkServer.start();
  ilink.qrScript([
    { status: "wait" },
    { fault: { http: 502 } },
    { fault: { drop: true } },
    { status: "confirmed" },
  ]);
  const { run, events } = login(ilink, `${home.path}/platforms/weixin`);
  const result = await run;
  assert.equal(result.accountId, ilink.accountId);
  assert.deepEqual(events.map((e) => e.type), ["qrcode", "wait", "poll_failed", "poll_failed"]);
  const failed = events[2];
  assert.match(failed?.type === "poll_failed" ? failed.error.message : "", /HTTP 502/);
});

Deno.test("qrLogin() fails at once when the first code cannot be had, and retries a refresh", async (t) => {
  await t.step("first code", async () => {
    await using home = tempDir();
    await using ilink = await IlinkServer.start();
    ilink.failNext("get_bot_qrcode", { http: 503 });
    const { run } = login(ilink, `${home.path}/platforms/weixin`);
    const error = await failure(run);
    assert.equal(error.reason, "qrcode");
    assert.match(error.message, new RegExp(`^Cannot get a Weixin login QR code from ${ilink.url}`));
    assert.match(error.message, /HTTP 503/);
  });
  await t.step("a refresh", async () => {
    await using home = tempDir();
    await using ilink = await IlinkServer.start();
    ilink.qrScript([{ status: "expired" }, { status: "confirmed" }]);
    const { run, events } = login(ilink, `${home.path}/platforms/weixin`, {
      onEvent: (event) => {
        events.push(event);
        if (event.type === "expired") ilink.failNext("get_bot_qrcode", { http: 500 });
      },
    });
    await run;
    assert.deepEqual(events.map((e) => e.type), ["qrcode", "expired", "poll_failed", "qrcode"]);
  });
});

Deno.test("qrLogin() refuses a confirmation without a token, saving nothing", async () => {
  await using home = tempDir();
  await using ilink = await IlinkServer.start();
  ilink.qrScript([{ status: "confirmed", botToken: "" }]);
  const stateDir = `${home.path}/platforms/weixin`;
  const { run } = login(ilink, stateDir);
  const error = await failure(run);
  assert.equal(error.reason, "incomplete");
  assert.match(error.message, /without bot_token/);
  assert.ok(await noAccountFiles(stateDir));
});

Deno.test("qrLogin() saves the baseurl iLink confirms, else the configured one", async (t) => {
  const confirmWith = (extra: Record<string, unknown>): typeof fetch => (input) => {
    const url = String(input instanceof Request ? input.url : input);
    const body = url.includes("get_bot_qrcode")
      ? { qrcode: "q", qrcode_img_content: "https://liteapp.weixin.qq.com/q/q" }
      : { status: "confirmed", ilink_bot_id: "b@im.bot", bot_token: "t", ...extra };
    return Promise.resolve(Response.json(body));
  };
  for (
    const [name, extra, expected] of [
      [
        "an http(s) URL",
        { baseurl: "https://sz.ilinkai.weixin.qq.com/" },
        "https://sz.ilinkai.weixin.qq.com",
      ],
      ["a bare host", { baseurl: "sz.ilinkai.weixin.qq.com" }, "https://sz.ilinkai.weixin.qq.com"],
      ["none", {}, "https://ilinkai.weixin.qq.com"],
    ] as const
  ) {
    await t.step(name, async () => {
      await using home = tempDir();
      const stateDir = `${home.path}/platforms/weixin`;
      const result = await qrLogin({
        baseUrl: "https://ilinkai.weixin.qq.com",
        stateDir,
        clock: virtualClock(),
        fetch: confirmWith(extra),
      });
      assert.equal(result.baseUrl, expected);
      assert.equal(result.userId, undefined);
      assert.equal((await readAccount(stateDir, "b@im.bot"))?.base_url, expected);
    });
  }
});

Deno.test("qrLogin() stops cleanly when its signal aborts, saving nothing", async (t) => {
  await t.step("while waiting", async () => {
    await using home = tempDir();
    await using ilink = await IlinkServer.start();
    const stateDir = `${home.path}/platforms/weixin`;
    const abort = new AbortController();
    const { run } = login(ilink, stateDir, {
      signal: abort.signal,
      onEvent: (event) => {
        if (event.type === "wait") abort.abort();
      },
    });
    const error = await failure(run);
    assert.equal(error.reason, "cancelled");
    assert.equal(error.message, "Weixin login cancelled: nothing was saved");
    assert.ok(await noAccountFiles(stateDir));
  });
  await t.step("during a poll iLink holds", async () => {
    await using home = tempDir();
    await using ilink = await IlinkServer.start();
    ilink.qrScript([{ fault: { delayMs: 30_000 } }, { status: "confirmed" }]);
    const stateDir = `${home.path}/platforms/weixin`;
    const abort = new AbortController();
    const { run } = login(ilink, stateDir, { signal: abort.signal });
    await ilink.waitForRequests("get_qrcode_status", 1);
    abort.abort();
    const error = await failure(run);
    assert.equal(error.reason, "cancelled");
    assert.ok(await noAccountFiles(stateDir));
  });
});

Deno.test("loginReporter() on a terminal draws the code and adds a dot per poll while waiting", async () => {
  let text = "";
  const reporter = loginReporter((t) => text += t, {
    terminal: true,
    renderQr: (url) => Promise.resolve(`[QR ${url}]\n`),
  });
  for (
    const event of [
      { type: "qrcode", url: "https://x/q/1", refresh: 0 },
      { type: "wait" },
      { type: "wait" },
      { type: "wait" },
      { type: "scanned" },
      { type: "scanned" },
      { type: "expired", count: 1, max: 3 },
      { type: "qrcode", url: "https://x/q/2", refresh: 1 },
      { type: "poll_failed", error: new Error("iLink GET get_qrcode_status HTTP 502: bad") },
      { type: "poll_failed", error: new Error("again") },
      { type: "wait" },
    ] satisfies LoginEvent[]
  ) {
    await reporter.onEvent(event);
  }
  reporter.end();
  assert.equal(
    text,
    [
      "Scan this QR code with WeChat on your phone to log the bot in:",
      "",
      "[QR https://x/q/1]",
      "Its URL: https://x/q/1",
      "Waiting for the scan..",
      "Scanned: confirm the login in WeChat on your phone",
      "The QR code expired: getting a new one (1 of 3)",
      "Scan the new QR code with WeChat on your phone to log the bot in:",
      "",
      "[QR https://x/q/2]",
      "Its URL: https://x/q/2",
      "No answer from iLink (iLink GET get_qrcode_status HTTP 502: bad): trying again",
      "Waiting for the scan",
      "",
    ].join("\n"),
  );
});

Deno.test("loginReporter() elsewhere prints the URL and one line per change of state", async () => {
  const lines: string[] = [];
  const reporter = loginReporter((t) => lines.push(t), {
    terminal: false,
    renderQr: () => Promise.reject(new Error("no drawing without a terminal")),
  });
  for (
    const event of [
      { type: "qrcode", url: "https://x/q/1", refresh: 0 },
      { type: "wait" },
      { type: "wait" },
      { type: "redirect", host: "sz.example", baseUrl: "https://sz.example" },
      { type: "scanned" },
      { type: "unknown_status", status: "need_verifycode" },
      { type: "unknown_status", status: "need_verifycode" },
      { type: "expired", count: 4, max: 3 },
    ] satisfies LoginEvent[]
  ) {
    await reporter.onEvent(event);
  }
  reporter.end();
  assert.deepEqual(lines, [
    "Scan the QR code of this URL with WeChat to log the bot in: https://x/q/1\n",
    "Waiting for the scan\n",
    "Scanned: confirm the login in WeChat on your phone\n",
    "iLink moved the login to sz.example\n",
    'iLink answered the status "need_verifycode", which hermes does not know: waiting on\n',
  ]);
});

/** What the simulator's n-th get_bot_qrcode answers as qrcode_img_content. */
function simulatorQrUrl(n: number): string {
  const code = `qr-${n}`;
  return `https://liteapp.weixin.qq.com/q/${code}?qrcode=${code}&bot_type=3`;
}
