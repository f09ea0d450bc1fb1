import { openPostgresStateStore } from "../../../lib/storage/postgres/state_store.ts";
import { stateStoreConformance } from "../state_store_conformance.ts";
import { databaseFor } from "../../_postgres.ts";

// Each test's folder stands for a database of its own: a reopen finds the same state.
stateStoreConformance(
  "PostgreSQL",
  async (dir, now) => openPostgresStateStore(await databaseFor(dir), { now, max: 4 }),
);
