/**
 * Which configuration values are secrets: the keys sections declare secret,
 * and any environment variable whose name says it holds one. Their values are
 * masked in logs and never printed by `config show`.
 *
 * @module
 */

const SECRET_NAME =
  /(^|_)(TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|API_?KEY|KEY|CREDENTIALS?|PRIVATE|COOKIE|SESSION_ID)(_|$)/i;

/**
 * Whether an environment variable or config key of this name holds a secret.
 *
 * @example
 * ```ts
 * isSecretName("TELEGRAM_BOT_TOKEN"); // true
 * isSecretName("WECOM_ENCODING_AES_KEY"); // true
 * isSecretName("HERMES_LOG_LEVEL"); // false
 * ```
 */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}
