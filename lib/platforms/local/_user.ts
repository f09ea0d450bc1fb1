/** Whether `user` can name a local user: 1-128 characters, no control characters, ':' or '/'. */
export function isValidUser(user: string): boolean {
  if (user.length < 1 || user.length > 128) return false;
  for (const char of user) {
    if (char.charCodeAt(0) < 0x20 || char === ":" || char === "/") return false;
  }
  return true;
}

/** What {@linkcode isValidUser} requires, for error messages. */
export const USER_RULE = "1-128 characters without ':', '/' or control characters";
