import assert from "node:assert/strict";
import { processEnded, processTable, recordProcess } from "../../lib/process/process_table.ts";
import { readProcStat } from "../../lib/process/identity.ts";

Deno.test("a process of this machine is ended once killed, and not before", async () => {
  const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
  const recorded = recordProcess(child.pid);
  assert.ok(recorded, "a live child can be recorded");
  assert.equal(processEnded(recorded), false);
  child.kill("SIGKILL");
  await child.status; // reaped: its PID is gone
  assert.equal(processEnded(recorded), true);
});

Deno.test("a PID another process took since counts as ended; this process does not", () => {
  const me = recordProcess()!;
  assert.equal(processEnded(me), false);
  assert.equal(processEnded({ ...me, startTime: me.startTime - 1 }), true, "a recycled PID");
});

Deno.test("a process recorded in another process table (another host, container or user) is never judged ended", async () => {
  const child = new Deno.Command("true").spawn();
  await child.status;
  const table = processTable()!;
  assert.match(table, /^linux:[0-9a-f-]{36}:\d+:\d+$/);
  const gone = { pid: child.pid, startTime: 1 };
  assert.equal(processEnded({ table, ...gone }), true, "here, its PID is gone");
  for (const other of [`linux:another-boot:1:0`, table.replace(/:\d+$/, ":99999")]) {
    assert.equal(processEnded({ table: other, ...gone }), false, other);
  }
});

Deno.test("readProcStat() tells a PID that is gone from one that lives", async () => {
  const child = new Deno.Command("true").spawn();
  await child.status;
  assert.equal(readProcStat(child.pid), "gone");
  const me = readProcStat(Deno.pid);
  assert.ok(typeof me === "object" && me.startTime > 0 && me.state.length === 1, String(me));
});

/** processTable() as printed by a process started by `wrapper` (unshare ...) through `sh -c`. */
async function tableIn(wrapper: string[], before = ""): Promise<string | null> {
  const script = new URL("./_print_process_table.ts", import.meta.url).pathname;
  const [command, ...args] = [
    ...wrapper,
    "sh",
    "-c",
    `${before} exec '${Deno.execPath()}' run -A '${script}'`,
  ];
  const output = await new Deno.Command(command!, { args, stderr: "inherit" }).output();
  assert.equal(output.code, 0, `${[...wrapper, before].join(" ")} failed`);
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

Deno.test("where PIDs cannot be trusted to tell, there is no process table: another PID namespace's /proc, a /proc that hides processes", async () => {
  assert.equal(await tableIn([]), processTable(), "here, the same table");
  assert.equal(await tableIn(["unshare", "-p", "-f"]), null, "the host's /proc");
  const own = await tableIn(["unshare", "-p", "-f", "--mount-proc"]);
  assert.ok(own && own !== processTable(), `its own namespace, its own table: ${own}`);
  for (const options of ["hidepid=2", "subset=pid"]) {
    const mounted = await tableIn(["unshare", "-m"], `mount -t proc -o ${options} proc /proc &&`);
    assert.equal(mounted, null, options);
  }
  const open = await tableIn(["unshare", "-m"], "mount -t proc -o hidepid=0 proc /proc &&");
  assert.equal(open, processTable(), "hidepid=0 hides nothing");
});
