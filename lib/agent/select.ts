/**
 * Chooses and builds the agent the configuration asks for.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import type { Config } from "../config/schema.ts";
import type { Agent } from "./agent.ts";
import { CommandAgent } from "./command.ts";
import { EchoAgent } from "./echo.ts";
import { OpenAIAgent } from "./openai.ts";

/**
 * The configured agent. `auto` picks openai when a model is set, command
 * when a command is set, else echo. `env` is the gateway's environment, which
 * the command agent picks its program's environment from (default: the
 * process environment, read only for the command agent).
 *
 * @example
 * ```ts
 * import { parseConfig } from "../config/schema.ts";
 *
 * const config = parseConfig({ agent: { command: ["python3", "bot.py"] } });
 * createAgent(config, { PATH: "/usr/bin", HOME: "/home/alice" }).provider; // "command"
 * ```
 */
export function createAgent(
  config: Config,
  env?: Readonly<Record<string, string | undefined>>,
): Agent {
  const settings = config.agent;
  const provider = settings.provider === "auto"
    ? settings.model ? "openai" : settings.command ? "command" : "echo"
    : settings.provider;
  switch (provider) {
    case "echo":
      return new EchoAgent();
    case "openai":
      if (!settings.model) {
        throw new ConfigError(
          "Cannot use the openai agent: no model is set (set HERMES_MODEL or agent.model)",
        );
      }
      return new OpenAIAgent({
        baseUrl: settings.base_url,
        apiKey: settings.api_key,
        model: settings.model,
        systemPrompt: settings.system_prompt,
        vision: settings.vision,
        timeoutMs: settings.timeout * 1000,
        maxRetries: settings.max_retries,
      });
    case "command":
      if (!settings.command) {
        throw new ConfigError(
          "Cannot use the command agent: agent.command is not set (e.g. [python3, bot.py])",
        );
      }
      return new CommandAgent({
        argv: settings.command,
        timeoutMs: settings.timeout * 1000,
        environment: env ?? Deno.env.toObject(),
        passEnv: settings.env,
        killGraceMs: settings.kill_grace_seconds * 1000,
      });
  }
}
