/**
 * Finds the PostgreSQL server programs (`initdb`, `pg_ctl`, `postgres`) the
 * tests start a throwaway server with: on `PATH`, in `/usr/local/bin`, or
 * where Debian's `postgresql` package puts them
 * (`/usr/lib/postgresql/<major>/bin`, the newest major first).
 *
 * @module
 */

/** Where to look, besides `PATH`. */
export interface PostgresSearch {
  /** The `PATH` to search (default: the process's). */
  readonly path?: string;
  /** More folders, searched after `PATH` (default `/usr/local/bin`). */
  readonly extra?: readonly string[];
  /** The folder of Debian's per-version installs (default `/usr/lib/postgresql`). */
  readonly debianRoot?: string;
}

/**
 * The folder holding `initdb`, `pg_ctl` and `postgres`, or undefined when
 * no PostgreSQL server is installed.
 *
 * @example
 * ```ts
 * findPostgresBin({ path: "", extra: [] }); // "/usr/lib/postgresql/15/bin" on Debian
 * ```
 */
export function findPostgresBin(search: PostgresSearch = {}): string | undefined {
  const path = search.path ?? Deno.env.get("PATH") ?? "";
  const folders = [
    ...path.split(":").filter((folder) => folder !== ""),
    ...(search.extra ?? ["/usr/local/bin"]),
    ...debianFolders(search.debianRoot ?? "/usr/lib/postgresql"),
  ];
  return folders.find((folder) =>
    ["initdb", "pg_ctl", "postgres"].every((name) => isFile(`${folder}/${name}`))
  );
}

/** `<root>/<major>/bin` for every installed major, newest first. */
function debianFolders(root: string): string[] {
  const majors: number[] = [];
  try {
    for (const entry of Deno.readDirSync(root)) {
      if (/^\d+$/.test(entry.name)) majors.push(Number(entry.name));
    }
  } catch {
    return [];
  }
  return majors.sort((a, b) => b - a).map((major) => `${root}/${major}/bin`);
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
