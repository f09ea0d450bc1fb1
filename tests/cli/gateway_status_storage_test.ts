import assert from "node:assert/strict";
import { describeStatus } from "../../cli/gateway.ts";
import type { GatewayStatusReport } from "../../lib/gateway/status_report.ts";

const running: GatewayStatusReport = {
  running: true,
  pid: 4242,
  state: "running",
  started_at: "2026-06-01T10:00:00.000Z",
  uptime_s: 60,
  platforms: {},
  home: "/srv/hermes",
  exit_reason: null,
  exit_code: null,
  active_work: 0,
  outbox: null,
  supervisor: null,
  drain_timeout_s: 180,
  source: "socket",
  stale_record_removed: null,
  loose_modes: [],
};

Deno.test("gateway status names a PostgreSQL store's lost connection, since when and why; SQLite's adds no line", () => {
  const lost = describeStatus({
    ...running,
    storage: {
      backend: "postgres",
      up: false,
      since: "2026-06-01T10:00:30.000Z",
      error: "Cannot write the state: the database connection was lost (ECONNRESET)",
    },
  });
  assert.match(
    lost,
    /^ {2}storage: postgres, connection lost since 2026-06-01T10:00:30\.000Z: Cannot write the state: the database connection was lost \(ECONNRESET\)$/m,
  );
  assert.match(
    describeStatus({ ...running, storage: { backend: "postgres", up: true } }),
    /^ {2}storage: postgres, connected$/m,
  );
  assert.doesNotMatch(
    describeStatus({ ...running, storage: { backend: "sqlite", up: true } }),
    /storage/,
  );
});
