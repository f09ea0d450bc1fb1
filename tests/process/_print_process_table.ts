/** Prints processTable() as JSON (null when undefined), for tests that run it in other namespaces. */
import { processTable } from "../../lib/process/process_table.ts";

console.log(JSON.stringify(processTable() ?? null));
