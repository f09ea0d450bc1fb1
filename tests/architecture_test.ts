import assert from "node:assert/strict";
import { ROOT } from "./_helpers.ts";

/** Every import (static, dynamic or type-only) between files of lib/, from `deno info --json`. */
async function importGraph(): Promise<Map<string, string[]>> {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(`${ROOT}${dir}`)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) walk(path);
      else if (entry.name.endsWith(".ts")) files.push(path);
    }
  };
  walk("lib");
  const scratch = await Deno.makeTempDir({ prefix: "hermes-arch-" });
  try {
    const entry = `${scratch}/every_lib_file.ts`;
    await Deno.writeTextFile(entry, files.map((f) => `import "file://${ROOT}${f}";`).join("\n"));
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
      modules: {
        specifier: string;
        dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
      }[];
    };
    const graph = new Map<string, string[]>();
    const local = (url: string) =>
      url.startsWith(`file://${ROOT}`) ? url.slice(7 + ROOT.length) : url;
    for (const module of info.modules) {
      const from = local(module.specifier);
      if (!from.startsWith("lib/")) continue;
      const targets = (module.dependencies ?? []).flatMap((d) =>
        [d.code?.specifier, d.type?.specifier].filter((s): s is string => s !== undefined)
      );
      graph.set(from, [...new Set(targets.map(local))]);
    }
    assert.ok(graph.size >= files.length, `deno info saw ${graph.size} of ${files.length} files`);
    return graph;
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
}

/** The imports that break a rule: `from → to` for each file in `folders` importing a match. */
function offending(
  graph: Map<string, string[]>,
  from: (file: string) => boolean,
  forbidden: (target: string) => boolean,
): string[] {
  return [...graph].flatMap(([file, targets]) =>
    from(file) ? targets.filter(forbidden).map((t) => `${file} → ${t}`) : []
  );
}

const graph = await importGraph();
const under = (...folders: string[]) => (file: string) =>
  folders.some((folder) => file.startsWith(`${folder}/`));

Deno.test("lib/auth, lib/config and lib/storage never import lib/gateway", () => {
  assert.deepEqual(
    offending(graph, under("lib/auth", "lib/config", "lib/storage"), under("lib/gateway")),
    [],
  );
});

Deno.test("lib/config names no platform: it imports no platform's folder", () => {
  const platformFolder = (target: string) => /^lib\/platforms\/[^/]+\//.test(target);
  assert.deepEqual(offending(graph, under("lib/config"), platformFolder), []);
});

Deno.test("the platform contract (adapter.ts, event.ts, health.ts, platform_state.ts) imports only lib/util and itself", () => {
  const contract = new Set([
    "lib/platforms/adapter.ts",
    "lib/platforms/event.ts",
    "lib/platforms/health.ts",
    "lib/platforms/platform_state.ts",
  ]);
  assert.deepEqual(
    offending(graph, (f) => contract.has(f), (t) => !contract.has(t) && !t.startsWith("lib/util/")),
    [],
  );
});

Deno.test("nothing outside lib/storage imports node:sqlite: state goes through the StateStore", () => {
  assert.deepEqual(
    offending(graph, (f) => !f.startsWith("lib/storage/"), (t) => t === "node:sqlite"),
    [],
  );
});

Deno.test("nothing in lib/ imports cli/ or scripts/", () => {
  assert.deepEqual(offending(graph, under("lib"), under("cli", "scripts")), []);
});

/**
 * What a platform's folder may import besides its own files and packages:
 * the contract and the registry it registers with, small shared pieces, the
 * tool its settings section is declared with, the access fields every
 * platform's section carries, the helpers platforms share (recent ids, text
 * batching) and where the home is (for a platform's own files).
 */
const PLATFORM_ROOM_MAY_IMPORT = new Set([
  "lib/platforms/adapter.ts",
  "lib/platforms/event.ts",
  "lib/platforms/health.ts",
  "lib/platforms/platform_state.ts",
  "lib/platforms/registry.ts",
  "lib/platforms/seen_ids.ts",
  "lib/platforms/text_batcher.ts",
  "lib/errors.ts",
  "lib/config/home.ts",
  "lib/config/section.ts",
  "lib/auth/access_settings.ts",
]);

Deno.test("a platform's folder imports only the contract, the registry, lib/util and the pieces listed", () => {
  const room = (file: string) => /^lib\/platforms\/[^/]+\//.exec(file)?.[0];
  const violations = [...graph].flatMap(([file, targets]) => {
    const own = room(file);
    if (!own) return [];
    return targets
      .filter((t) => t.startsWith("lib/") && !t.startsWith(own) && !t.startsWith("lib/util/"))
      .filter((t) => !PLATFORM_ROOM_MAY_IMPORT.has(t))
      .map((t) => `${file} → ${t}`);
  });
  assert.deepEqual(violations, []);
});
