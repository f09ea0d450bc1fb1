/**
 * What the benchmarks read of a process from /proc: CPU time and resident
 * memory (NaN where there is no /proc).
 *
 * @module
 */

/** A file of /proc/<pid>, or "" where there is none. */
function proc(pid: number, file: string): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/${file}`);
  } catch {
    return "";
  }
}

/** CPU seconds the process has used (user + system; the kernel's 100 ticks a second). */
export function cpuSeconds(pid: number): number {
  const stat = proc(pid, "stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11] ?? NaN) + Number(fields[12] ?? NaN)) / 100;
}

/** The process's resident memory in MiB. */
export function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(proc(pid, "status"))?.[1] ?? NaN) / 1024;
}

/** The process's parent PID (NaN where there is no /proc). */
export function parentPid(pid: number): number {
  const stat = proc(pid, "stat");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1] ?? NaN);
}

/**
 * CPU seconds of `root` and of each of its children by PID (a server and
 * the workers it forked, as PostgreSQL runs one process per connection).
 */
export function treeCpuSeconds(root: number): Map<number, number> {
  const cpu = new Map([[root, cpuSeconds(root)]]);
  try {
    for (const entry of Deno.readDirSync("/proc")) {
      const pid = Number(entry.name);
      if (Number.isInteger(pid) && parentPid(pid) === root) cpu.set(pid, cpuSeconds(pid));
    }
  } catch {
    // no /proc
  }
  return cpu;
}
