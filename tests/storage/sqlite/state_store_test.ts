import { openSqliteStateStore } from "../../../lib/storage/sqlite/state_store.ts";
import { stateStoreConformance } from "../state_store_conformance.ts";

stateStoreConformance("SQLite", (dir, now) => openSqliteStateStore(`${dir}/state.db`, { now }));
