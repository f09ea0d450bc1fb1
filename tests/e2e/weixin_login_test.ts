import assert from "node:assert/strict";
import { cliRunFlags } from "../../scripts/permissions.ts";
import { ROOT, runHermes, tempDir } from "../_helpers.ts";
import { waitFor } from "../gateway/_gateway.ts";
import { IlinkServer } from "../fakes/ilink_server.ts";
import { saveCursor } from "../../lib/platforms/weixin/accounts.ts";
import { decodeTerminalQr, qrRows } from "../platforms/weixin/_terminal_qr.ts";
import { Tmux } from "./_tmux.ts";

const ACCOUNT = "bot-1@im.bot";

/** What the simulator's n-th get_bot_qrcode answers as qrcode_img_content. */
function qrUrl(n: number): string {
  return `https://liteapp.weixin.qq.com/q/qr-${n}?qrcode=qr-${n}&bot_type=3`;
}

function accountsDir(home: string): string {
  return `${home}/platforms/weixin/accounts`;
}

/** The names in the accounts folder (none when it does not exist). */
function accountFiles(home: string): string[] {
  try {
    return [...Deno.readDirSync(accountsDir(home))].map((e) => e.name).sort();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

/** The statuses get_qrcode_status answered, with where it was asked. */
function polls(ilink: IlinkServer): string[] {
  return ilink.requests.map((r) =>
    `${r.endpoint}${r.query.get("qrcode") ? ` ${r.query.get("qrcode")}` : ""}${
      r.via ? " via redirect" : ""
    }`
  );
}

Deno.test("hermes weixin login without a terminal: scan, redirect, expiry and confirmation save the account", async (t) => {
  const script = (ilink: IlinkServer) =>
    ilink.qrScript([
      { status: "scaned" },
      { status: "scaned_but_redirect", redirectHost: ilink.redirectHost },
      { status: "expired" },
      { status: "wait" },
      { status: "scaned" },
      { status: "confirmed", userId: "owner@im.wechat" },
    ]);
  const expectedRequests = (ilink: IlinkServer) => {
    const seen = polls(ilink);
    assert.deepEqual(seen, [
      "get_bot_qrcode",
      "get_qrcode_status qr-1",
      "get_qrcode_status qr-1",
      "get_qrcode_status qr-1 via redirect",
      "get_bot_qrcode",
      "get_qrcode_status qr-2 via redirect",
      "get_qrcode_status qr-2 via redirect",
      "get_qrcode_status qr-2 via redirect",
    ]);
  };

  await t.step("people read the states and the account id to configure", async () => {
    await using home = tempDir();
    await using ilink = await IlinkServer.start();
    script(ilink);
    const { code, stdout, stderr } = await runHermes(
      ["weixin", "login", "--base-url", ilink.url],
      { home: home.path },
    );
    assert.equal(code, 0, stdout + stderr);
    const path = `${accountsDir(home.path)}/${ACCOUNT}.json`;
    assert.deepEqual(stdout.trimEnd().split("\n"), [
      `Scan the QR code of this URL with WeChat to log the bot in: ${qrUrl(1)}`,
      "Scanned: confirm the login in WeChat on your phone",
      `iLink moved the login to ${ilink.redirectHost}`,
      "The QR code expired: getting a new one (1 of 3)",
      `Scan the new QR code of this URL with WeChat to log the bot in: ${qrUrl(2)}`,
      "Waiting for the scan",
      "Scanned: confirm the login in WeChat on your phone",
      `Logged in: Weixin bot account ${ACCOUNT} (WeChat user owner@im.wechat)`,
      `Saved its token in ${path} (mode 0600)`,
      "Set it in the configuration (.env or weixin.account_id), then (re)start the gateway:",
      `WEIXIN_ACCOUNT_ID=${ACCOUNT}`,
    ]);
    assert.ok(!stdout.includes("\x1b["), "no colour codes without a terminal");
    assert.ok(!`${stdout}${stderr}`.includes(ilink.token), "the token is not printed");
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const saved = JSON.parse(await Deno.readTextFile(path));
    assert.equal(saved.token, ilink.token);
    assert.equal(saved.base_url, ilink.url);
    assert.equal(saved.user_id, "owner@im.wechat");
    assert.match(saved.saved_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(accountFiles(home.path), [`${ACCOUNT}.json`]);
    expectedRequests(ilink);
  });

  await t.step("--json prints one object on stdout and the states on stderr", async () => {
    await using home = tempDir();
    await using ilink = await IlinkServer.start();
    script(ilink);
    const { code, stdout, stderr } = await runHermes(
      ["weixin", "login", "--json", "--base-url", ilink.url],
      { home: home.path },
    );
    assert.equal(code, 0, stdout + stderr);
    assert.deepEqual(JSON.parse(stdout), {
      account_id: ACCOUNT,
      user_id: "owner@im.wechat",
      base_url: ilink.url,
      account_file: `${accountsDir(home.path)}/${ACCOUNT}.json`,
    });
    assert.match(stderr, new RegExp(`with WeChat to log the bot in: ${escape(qrUrl(2))}`));
    assert.match(stderr, /The QR code expired: getting a new one \(1 of 3\)/);
    expectedRequests(ilink);
  });
});

Deno.test("hermes weixin login fails in one line on the fourth expiry and saves nothing", async () => {
  await using home = tempDir();
  await using ilink = await IlinkServer.start();
  ilink.qrScript([{ status: "expired" }]);
  const { code, stdout, stderr } = await runHermes(
    ["weixin", "login", "--base-url", ilink.url],
    { home: home.path },
  );
  assert.equal(code, 1, stdout + stderr);
  assert.deepEqual(stderr.trimEnd().split("\n"), [
    "hermes: Weixin login failed: the QR code expired 4 times (3 new codes were shown) without being confirmed; run `hermes weixin login` again and scan the code while it is shown",
  ]);
  assert.match(stdout, /getting a new one \(3 of 3\)/);
  assert.equal(ilink.requestsTo("get_bot_qrcode").length, 4);
  assert.deepEqual(accountFiles(home.path), []);
});

Deno.test("hermes weixin login --timeout ends in one line naming the fix and saves nothing", async () => {
  await using home = tempDir();
  await using ilink = await IlinkServer.start();
  ilink.qrScript([{ status: "wait" }]);
  const { code, stdout, stderr } = await runHermes(
    ["weixin", "login", "--timeout", "2", "--base-url", ilink.url],
    { home: home.path },
  );
  assert.equal(code, 1, stdout + stderr);
  assert.deepEqual(stderr.trimEnd().split("\n"), [
    "hermes: Weixin login timed out after 2 s: the QR code was not scanned and confirmed in time; run `hermes weixin login` again and scan the code within 2 s (--timeout gives more time)",
  ]);
  assert.match(stdout, /Waiting for the scan/);
  assert.deepEqual(accountFiles(home.path), []);
});

Deno.test("hermes weixin login options: usage errors exit 2, WEIXIN_BASE_URL is the default base", async (t) => {
  await using home = tempDir();
  await t.step("a base URL that is not http(s)", async () => {
    const { code, stdout, stderr } = await runHermes(
      ["weixin", "login", "--base-url", "ftp://example.com"],
      { home: home.path },
    );
    assert.equal(code, 2, stdout + stderr);
    assert.match(stderr, /^hermes: Cannot log in to Weixin at "ftp:\/\/example.com": expected/);
  });
  await t.step("a timeout that is no number", async () => {
    const { code, stderr } = await runHermes(["weixin", "login", "--timeout", "soon"], {
      home: home.path,
    });
    assert.equal(code, 2, stderr);
    assert.match(stderr, /--timeout/);
  });
  await t.step("WEIXIN_BASE_URL is used when no --base-url is given", async () => {
    const { code, stderr } = await runHermes(["weixin", "login"], {
      home: home.path,
      env: { WEIXIN_BASE_URL: "http://127.0.0.1:9/" },
    });
    assert.equal(code, 1, stderr);
    assert.match(
      stderr,
      /^hermes: Cannot get a Weixin login QR code from http:\/\/127\.0\.0\.1:9:/,
    );
  });
});

Deno.test({
  name:
    "hermes weixin login in a real terminal draws a QR code that scans, shows each state, and Ctrl-C exits 130",
  async fn(t) {
    await using home = tempDir();
    await using ilink = await IlinkServer.start();
    const env: Record<string, string> = { HERMES_HOME: home.path, TERM: "xterm-256color" };
    for (const name of ["PATH", "HOME", "DENO_DIR"]) {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    }
    await using tmux = new Tmux(home.path, env);
    const login = [
      Deno.execPath(),
      "run",
      ...cliRunFlags(),
      `${ROOT}cli/main.ts`,
      "weixin",
      "login",
      "--base-url",
      ilink.url,
    ];
    const screen = (name: string) => tmux.capture(name);
    const showing = (name: string, pattern: RegExp) =>
      waitFor(`the terminal to show ${pattern}`, async () => pattern.test(await screen(name)));

    await t.step("the code fits 80 columns and scans on light and dark themes", async () => {
      ilink.qrScript([{ status: "wait" }]);
      await tmux.run("login", login);
      // A dot per poll: the state line is live.
      await showing("login", /Waiting for the scan\.+/);
      const text = await screen("login");
      assert.ok(text.includes(`Its URL: ${qrUrl(1)}`), text);
      const rows = qrRows(text);
      assert.ok(rows.length > 10, text);
      const widths = rows.map((row) => [...row].length);
      assert.ok(Math.max(...widths) <= 80, `QR rows ${widths.join(",")} wide`);
      const coloured = await tmux.capture("login", { colours: true });
      assert.equal(decodeTerminalQr(coloured, "light"), qrUrl(1));
      assert.equal(decodeTerminalQr(coloured, "dark"), qrUrl(1));
      assert.ok(!text.includes("Scanned"), text);
    });

    await t.step("the states appear as they change, then the account id", async () => {
      ilink.qrScript([{ status: "scaned" }]);
      await showing("login", /Scanned: confirm the login in WeChat on your phone/);
      assert.ok(!(await screen("login")).includes("Logged in"));
      ilink.qrScript([{ status: "confirmed" }]);
      await waitFor("the login to exit", async () => await tmux.exitCode("login") !== undefined);
      assert.equal(await tmux.exitCode("login"), 0, await screen("login"));
      const text = await screen("login");
      const order = ["Waiting for the scan", "Scanned:", `Logged in: Weixin bot account ${ACCOUNT}`]
        .map((line) => text.indexOf(line));
      assert.ok(order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1]!)), text);
      assert.ok(text.includes(`WEIXIN_ACCOUNT_ID=${ACCOUNT}`), text);
      const path = `${accountsDir(home.path)}/${ACCOUNT}.json`;
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
      await Deno.remove(path);
    });

    await t.step("Ctrl-C while it waits exits 130 and saves nothing", async () => {
      ilink.qrScript([{ status: "wait" }]);
      await tmux.run("cancel", login);
      await showing("cancel", /Waiting for the scan/);
      await tmux.sendKeys("cancel", "C-c");
      await waitFor("the login to exit", async () => await tmux.exitCode("cancel") !== undefined);
      const text = await screen("cancel");
      assert.equal(await tmux.exitCode("cancel"), 130, text);
      assert.match(text, /\nhermes: Weixin login cancelled: nothing was saved\n/);
      assert.deepEqual(accountFiles(home.path), []);
    });
  },
});

Deno.test("hermes weixin status and logout", async (t) => {
  await using home = tempDir();
  const stateDir = `${home.path}/platforms/weixin`;

  await t.step("status without accounts says how to add one", async () => {
    const { code, stdout, stderr } = await runHermes(["weixin", "status"], { home: home.path });
    assert.equal(code, 0, stderr);
    assert.equal(
      stdout,
      `No Weixin account is saved in ${stateDir}/accounts: run \`hermes weixin login\` to add one\n`,
    );
    const json = await runHermes(["weixin", "status", "--json"], { home: home.path });
    assert.deepEqual(JSON.parse(json.stdout).accounts, []);
  });

  await using ilink = await IlinkServer.start();
  for (const id of [ACCOUNT, "bot-2@im.bot"]) {
    ilink.qrScript([{ status: "confirmed", botId: id, userId: `owner-of-${id}` }]);
    const login = await runHermes(["weixin", "login", "--base-url", ilink.url], {
      home: home.path,
    });
    assert.equal(login.code, 0, login.stdout + login.stderr);
  }
  await saveCursor(stateDir, ACCOUNT, "cursor-1");
  await Deno.writeTextFile(
    `${stateDir}/accounts/${ACCOUNT}.context-tokens.json`,
    JSON.stringify({ "u-1@im.wechat": "ctx-1" }),
  );

  await t.step("status shows each account and the age of its poll cursor", async () => {
    const { code, stdout, stderr } = await runHermes(["weixin", "status"], { home: home.path });
    assert.equal(code, 0, stderr);
    const lines = stdout.trimEnd().split("\n");
    assert.equal(lines[0], `Weixin accounts in ${stateDir}/accounts:`);
    assert.equal(lines[1], ACCOUNT);
    assert.equal(lines[2], `  user:        owner-of-${ACCOUNT}`);
    assert.equal(lines[3], `  base url:    ${ilink.url}`);
    assert.match(lines[4]!, /^ {2}saved at: {4}\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.match(lines[5]!, /^ {2}poll cursor: saved \d+ s ago \(\d{4}-.*Z\)$/);
    assert.equal(lines[6], "bot-2@im.bot");
    assert.equal(lines.at(-1), "  poll cursor: never polled");

    const json = await runHermes(["weixin", "status", "--json"], { home: home.path });
    const out = JSON.parse(json.stdout);
    assert.equal(out.accounts_dir, `${stateDir}/accounts`);
    const [first, second] = out.accounts;
    assert.equal(first.account_id, ACCOUNT);
    assert.equal(first.user_id, `owner-of-${ACCOUNT}`);
    assert.equal(first.base_url, ilink.url);
    assert.equal(first.account_file, `${stateDir}/accounts/${ACCOUNT}.json`);
    assert.equal(typeof first.cursor.age_seconds, "number");
    assert.ok(first.cursor.age_seconds >= 0);
    assert.equal(second.account_id, "bot-2@im.bot");
    assert.equal(second.cursor, null);
  });

  await t.step("logout removes the account, its cursor and its tokens", async () => {
    const { code, stdout, stderr } = await runHermes(["weixin", "logout", ACCOUNT], {
      home: home.path,
    });
    assert.equal(code, 0, stderr);
    assert.match(stdout, new RegExp(`^Logged out: removed Weixin account ${escape(ACCOUNT)}`));
    assert.match(stdout, new RegExp(`Remove WEIXIN_ACCOUNT_ID=${escape(ACCOUNT)} from`));
    assert.deepEqual(accountFiles(home.path), ["bot-2@im.bot.json"]);
    const status = await runHermes(["weixin", "status", "--json"], { home: home.path });
    assert.deepEqual(
      JSON.parse(status.stdout).accounts.map((a: { account_id: string }) => a.account_id),
      ["bot-2@im.bot"],
    );
  });

  await t.step("logout of an unknown account exits 1 naming hermes weixin status", async () => {
    for (const id of [ACCOUNT, "../escape"]) {
      const { code, stdout, stderr } = await runHermes(["weixin", "logout", id], {
        home: home.path,
      });
      assert.equal(code, 1, stdout + stderr);
      assert.equal(stdout, "");
      assert.deepEqual(stderr.trimEnd().split("\n"), [
        `hermes: No Weixin account "${id}" is saved in ${stateDir}/accounts: \`hermes weixin status\` lists the saved accounts`,
      ]);
    }
    assert.deepEqual(accountFiles(home.path), ["bot-2@im.bot.json"]);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
