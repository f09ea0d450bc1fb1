/**
 * `hermes weixin login|logout|status`: the Weixin bot's accounts. `login`
 * shows a QR code to scan with WeChat and saves the account file the
 * gateway reads its token from (`lib/platforms/weixin/login.ts`); `logout`
 * removes an account; `status` lists the saved ones with the age of their
 * poll cursor. None of them needs a running gateway.
 *
 * @module
 */

import type { CliCommand } from "./command.ts";
import { positiveSeconds } from "./value_parsers.ts";
import { ConfigError, HermesError, UsageError } from "../lib/errors.ts";
import { ExitCode } from "../lib/process/exit_codes.ts";
import type { QrLoginResult } from "../lib/platforms/weixin/login.ts";
import { loadHomeConfig, openHome } from "./context.ts";
import type { CliIo } from "./io.ts";

/** `hermes weixin login --json`. */
export interface LoginOutput {
  /** The bot's `ilink_bot_id`: what `WEIXIN_ACCOUNT_ID` is set to. */
  readonly account_id: string;
  /** The WeChat user who confirmed the login (null when iLink did not say). */
  readonly user_id: string | null;
  /** The API base saved with the account. */
  readonly base_url: string;
  /** The saved account file (mode 0600). */
  readonly account_file: string;
}

/** One account of `hermes weixin status --json`. */
export interface AccountStatus {
  /** The account id (the account file's name). */
  readonly account_id: string;
  /** The WeChat user who confirmed the login (null when unknown). */
  readonly user_id: string | null;
  /** The API base saved with the account (null when unknown). */
  readonly base_url: string | null;
  /** When the login was saved (null when unknown). */
  readonly saved_at: string | null;
  /** The account file's path. */
  readonly account_file: string;
  /** The poll cursor: null when the gateway never polled with this account. */
  readonly cursor: { readonly saved_at: string | null; readonly age_seconds: number | null } | null;
  /** Why the account file cannot be read, if it cannot. */
  readonly error?: string;
}

/**
 * Adds the `weixin` command group to `program`.
 *
 * @example
 * ```ts
 * import { CliCommand } from "./command.ts";
 * import { processIo } from "./io.ts";
 *
 * const program = new CliCommand("hermes");
 * registerWeixinCommands(program, processIo());
 * ```
 */
export function registerWeixinCommands(program: CliCommand, io: CliIo): void {
  const weixin = program.command("weixin").description(
    "Log the Weixin (personal WeChat) bot in and out, and show its saved accounts",
  );

  weixin.command("login")
    .description(
      "Show a QR code to scan with WeChat, wait for the confirmation, and save the bot's account (exit 0 logged in, 1 not, 130 Ctrl-C)",
    )
    .option(
      "--base-url <url>",
      "the iLink API (default WEIXIN_BASE_URL, weixin.base_url, the official one)",
    )
    .option(
      "--timeout <seconds>",
      "how long to wait for the scan and confirmation (default 480)",
      positiveSeconds,
    )
    .option("--json", "print one JSON object at the end (the QR code and states go to stderr)")
    .action(async (options, command) => {
      // --base-url needs no configuration, so a broken config.yaml cannot block a login.
      const home = await openHome(io, command);
      const { DEFAULT_WEIXIN_BASE_URL, weixinSettings } = await import(
        "../lib/platforms/weixin/section.ts"
      );
      const baseUrl = options.baseUrl ??
        weixinSettings((await loadHomeConfig(io, command, home)).config).base_url ??
        DEFAULT_WEIXIN_BASE_URL;
      if (!/^https?:\/\/[^/]/.test(baseUrl) || !URL.canParse(baseUrl)) {
        throw new UsageError(
          `Cannot log in to Weixin at "${baseUrl}": expected an http:// or https:// URL`,
          `hermes weixin login --base-url ${DEFAULT_WEIXIN_BASE_URL}`,
        );
      }
      const timeoutSeconds = options.timeout ?? 480;
      const result = await login(io, {
        baseUrl,
        home: home.paths.home,
        timeoutMs: timeoutSeconds * 1000,
        timeoutSeconds,
        json: options.json === true,
      });
      if (options.json) {
        const output: LoginOutput = {
          account_id: result.accountId,
          user_id: result.userId ?? null,
          base_url: result.baseUrl,
          account_file: result.accountFile,
        };
        return void io.out(`${JSON.stringify(output, null, 2)}\n`);
      }
      io.out(
        [
          `Logged in: Weixin bot account ${result.accountId}${
            result.userId ? ` (WeChat user ${result.userId})` : ""
          }`,
          `Saved its token in ${result.accountFile} (mode 0600)`,
          "Set it in the configuration (.env or weixin.account_id), then (re)start the gateway:",
          `WEIXIN_ACCOUNT_ID=${result.accountId}`,
          "",
        ].join("\n"),
      );
    });

  weixin.command("logout")
    .description("Remove a saved account: its token, poll cursor and context tokens")
    .argument("<account>", "the account id (hermes weixin status lists them)")
    .action(async (account, _options, command) => {
      const { paths } = await openHome(io, command);
      const { removeAccount, weixinStateDir } = await import(
        "../lib/platforms/weixin/accounts.ts"
      );
      const stateDir = weixinStateDir(paths.home);
      let removed = false;
      try {
        removed = await removeAccount(stateDir, account);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error; // an id no account can have
      }
      if (!removed) {
        throw new HermesError(
          "weixin_unknown_account",
          `No Weixin account "${account}" is saved in ${stateDir}/accounts: \`hermes weixin status\` lists the saved accounts`,
          { exitCode: ExitCode.Crash },
        );
      }
      io.out(
        `Logged out: removed Weixin account ${account} (its token, poll cursor and context tokens)\n` +
          `Remove WEIXIN_ACCOUNT_ID=${account} from the configuration, and restart a gateway that runs with it (hermes gateway restart)\n`,
      );
    });

  weixin.command("status")
    .description(
      "List the saved accounts: user, base URL, when saved, and the age of the poll cursor",
    )
    .option("--json", "print one JSON object")
    .action(async (options, command) => {
      const { paths } = await openHome(io, command);
      const { weixinStateDir } = await import("../lib/platforms/weixin/accounts.ts");
      const stateDir = weixinStateDir(paths.home);
      const accounts = await accountStatuses(stateDir, Date.now());
      if (options.json) {
        return void io.out(
          `${JSON.stringify({ accounts_dir: `${stateDir}/accounts`, accounts }, null, 2)}\n`,
        );
      }
      io.out(describeAccounts(`${stateDir}/accounts`, accounts));
    });
}

/** Runs the QR login with Ctrl-C wired to its signal; errors worded for this command. */
async function login(
  io: CliIo,
  o: {
    baseUrl: string;
    home: string;
    timeoutMs: number;
    timeoutSeconds: number;
    json: boolean;
  },
): Promise<QrLoginResult> {
  const [{ qrLogin, WeixinLoginError }, { loginReporter }, { weixinStateDir }] = await Promise.all([
    import("../lib/platforms/weixin/login.ts"),
    import("../lib/platforms/weixin/login_output.ts"),
    import("../lib/platforms/weixin/accounts.ts"),
  ]);
  // With --json stdout holds the result only; the code and the states go to stderr.
  const reporter = loginReporter(o.json ? io.err : io.out, {
    terminal: o.json ? io.stderrIsTerminal : io.stdoutIsTerminal === true,
  });
  const abort = new AbortController();
  // The first Ctrl-C stops the login; a second one does not wait for that.
  const onInterrupt = () => abort.signal.aborted ? Deno.exit(ExitCode.Interrupted) : abort.abort();
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    return await qrLogin({
      baseUrl: o.baseUrl,
      stateDir: weixinStateDir(o.home),
      timeoutMs: o.timeoutMs,
      signal: abort.signal,
      onEvent: reporter.onEvent,
    });
  } catch (error) {
    if (!(error instanceof WeixinLoginError)) throw error;
    const again = "run `hermes weixin login` again";
    switch (error.reason) {
      case "cancelled":
        throw new HermesError(error.code, error.message, {
          cause: error,
          exitCode: ExitCode.Interrupted,
        });
      case "timeout":
        throw new HermesError(
          error.code,
          `${error.message}; ${again} and scan the code within ${o.timeoutSeconds} s (--timeout gives more time)`,
          { cause: error },
        );
      case "expired":
        throw new HermesError(
          error.code,
          `${error.message}; ${again} and scan the code while it is shown`,
          { cause: error },
        );
      case "qrcode":
        throw new HermesError(
          error.code,
          `${error.message}; check the network and the base URL (--base-url, WEIXIN_BASE_URL), then ${again}`,
          { cause: error },
        );
      default:
        throw new HermesError(error.code, `${error.message}; ${again}`, { cause: error });
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
    reporter.end();
  }
}

/** Each saved account with its poll cursor; an unreadable file is reported, not thrown. */
async function accountStatuses(stateDir: string, now: number): Promise<AccountStatus[]> {
  const { accountFile, listAccounts, readAccount, readCursor } = await import(
    "../lib/platforms/weixin/accounts.ts"
  );
  const ids = await listAccounts(stateDir);
  return await Promise.all(ids.map(async (id): Promise<AccountStatus> => {
    const file = accountFile(stateDir, id);
    const [account, cursor] = await Promise.allSettled([
      readAccount(stateDir, id),
      readCursor(stateDir, id),
    ]);
    const saved = account.status === "fulfilled" ? account.value : undefined;
    const cursorValue = cursor.status === "fulfilled" ? cursor.value : undefined;
    const errors = [account, cursor].flatMap((r) =>
      r.status === "rejected" ? [(r.reason as Error).message] : []
    );
    const cursorAt = cursorValue?.savedAt ? Date.parse(cursorValue.savedAt) : NaN;
    return {
      account_id: id,
      user_id: saved?.user_id ?? null,
      base_url: saved?.base_url || null,
      saved_at: saved?.saved_at || null,
      account_file: file,
      cursor: cursorValue
        ? {
          saved_at: cursorValue.savedAt ?? null,
          age_seconds: Number.isFinite(cursorAt)
            ? Math.max(0, Math.round((now - cursorAt) / 1000))
            : null,
        }
        : null,
      ...(errors.length > 0 ? { error: errors.join("; ") } : {}),
    };
  }));
}

/**
 * Human text for `hermes weixin status`.
 *
 * @example
 * ```ts
 * describeAccounts("/srv/hermes/platforms/weixin/accounts", [{
 *   account_id: "b0f5@im.bot",
 *   user_id: "u@im.wechat",
 *   base_url: "https://ilinkai.weixin.qq.com",
 *   saved_at: "2026-12-01T10:00:00Z",
 *   account_file: "/srv/hermes/platforms/weixin/accounts/b0f5@im.bot.json",
 *   cursor: { saved_at: "2026-12-01T10:05:00.000Z", age_seconds: 300 },
 * }]); // "Weixin accounts in …:\nb0f5@im.bot\n  user:        u@im.wechat\n…  poll cursor: saved 5 min ago (…)\n"
 * ```
 */
export function describeAccounts(dir: string, accounts: readonly AccountStatus[]): string {
  if (accounts.length === 0) {
    return `No Weixin account is saved in ${dir}: run \`hermes weixin login\` to add one\n`;
  }
  const lines = [`Weixin accounts in ${dir}:`];
  for (const a of accounts) {
    lines.push(a.account_id);
    if (a.error) lines.push(`  error:       ${a.error}`);
    lines.push(`  user:        ${a.user_id ?? "unknown"}`);
    lines.push(`  base url:    ${a.base_url ?? "unknown"}`);
    lines.push(`  saved at:    ${a.saved_at ?? "unknown"}`);
    lines.push(
      `  poll cursor: ${
        a.cursor === null
          ? "never polled"
          : a.cursor.age_seconds === null
          ? "saved, at an unknown time"
          : `saved ${age(a.cursor.age_seconds)} ago (${a.cursor.saved_at})`
      }`,
    );
  }
  return `${lines.join("\n")}\n`;
}

function age(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.floor(seconds / 86400)} d`;
}
