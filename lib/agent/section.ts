/**
 * The `agent` section of config.yaml: which provider answers and how to
 * reach it.
 *
 * @module
 */

import { z } from "zod";
import { defineSection } from "../config/section.ts";

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Settings of the agent. */
export const agentSection = defineSection({
  key: "agent",
  schema: z.object({
    provider: z.enum(["auto", "echo", "openai", "command"]).default("auto").describe(
      "Who answers: auto is openai when a model is set, command when a command is set, else echo",
    ),
    model: z.string().min(1).optional().describe("Model name sent to the openai provider"),
    base_url: z.url().default("https://api.openai.com/v1").describe(
      "OpenAI-compatible endpoint (the /chat/completions path is appended)",
    ),
    api_key: z.string().min(1).optional().describe("Bearer key of the openai provider"),
    system_prompt: z.string().optional().describe("System message put before every history"),
    command: z.array(z.string().min(1)).min(1).optional().describe(
      "Program and arguments of the command provider (JSON lines on stdin and stdout)",
    ),
    env: z.array(
      z.string().regex(VARIABLE_NAME, {
        error: (issue) =>
          `"${issue.input}" is not a variable name (letters, digits and underscores, not starting with a digit)`,
      }),
    ).default([]).describe(
      "Names of further gateway environment variables the command provider's program gets",
    ),
    kill_grace_seconds: z.number().positive().default(5).describe(
      "Seconds a stopped command provider's program has after SIGTERM before its process group gets SIGKILL",
    ),
    media_dirs: z.array(z.string().min(1)).default([]).describe(
      "Folders a reply's MEDIA:<path> lines may send files from, besides the media cache",
    ),
    vision: z.boolean().default(true).describe(
      "Send images to the openai provider as image_url parts (false: a text note naming each)",
    ),
    timeout: z.number().positive().default(120).describe(
      "Seconds to wait for the provider's first and each further token",
    ),
    max_retries: z.number().int().min(0).max(10).default(3).describe(
      "Retries after HTTP 429, 5xx or a network error, before the first token",
    ),
    history_limit: z.number().int().min(1).default(50).describe(
      "Most recent messages of the session sent with each turn",
    ),
    redact_pii: z.boolean().default(false).describe(
      "Show the agent a stable 12-hex hash instead of each user and chat id (routing keeps the real ids)",
    ),
  }),
  env: {
    HERMES_AGENT_PROVIDER: "provider",
    HERMES_MODEL: "model",
    OPENAI_BASE_URL: "base_url",
    OPENAI_API_KEY: "api_key",
    HERMES_AGENT_TIMEOUT: "timeout",
    HERMES_AGENT_VISION: "vision",
    HERMES_REDACT_PII: "redact_pii",
  },
  secrets: ["api_key"],
});
