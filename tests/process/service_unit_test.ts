import assert from "node:assert/strict";
import { serviceTarget, supervisorCommands } from "../../lib/process/service_install.ts";
import {
  renderLaunchdPlist,
  renderSystemdUnit,
  stopTimeoutSeconds,
} from "../../lib/process/service_unit.ts";

const request = {
  env: { HOME: "/home/ada", USER: "ada" },
  system: false,
  command: ["/opt/hermes"],
  drainTimeoutS: 180,
};

Deno.test("stopTimeoutSeconds() leaves the drain room to finish, never under a minute", () => {
  assert.equal(stopTimeoutSeconds(180), 250);
  assert.equal(stopTimeoutSeconds(5), 75);
  assert.equal(stopTimeoutSeconds(0), 70);
  assert.equal(stopTimeoutSeconds(10, 300), 340);
});

Deno.test("the default home gets the plain unit name; other homes a hashed one", async () => {
  const plain = await serviceTarget({ ...request, home: "/home/ada/.hermes", os: "linux" });
  assert.equal(plain.name, "hermes-gateway");
  assert.equal(plain.path, "/home/ada/.config/systemd/user/hermes-gateway.service");
  const other = await serviceTarget({ ...request, home: "/srv/bot two", os: "linux" });
  assert.match(other.name, /^hermes-gateway-[0-9a-f]{8}$/);
  const system = await serviceTarget({
    ...request,
    home: "/srv/bot two",
    os: "linux",
    system: true,
  });
  assert.equal(system.path, `/etc/systemd/system/${other.name}.service`);
  assert.deepEqual(supervisorCommands(system, "install"), [
    ["systemctl", "daemon-reload"],
    ["systemctl", "enable", "--now", `${other.name}.service`],
  ]);
  const mac = await serviceTarget({ ...request, home: "/home/ada/.hermes", os: "darwin" });
  assert.equal(mac.path, "/home/ada/Library/LaunchAgents/ai.hermes.gateway.plist");
});

Deno.test("the systemd unit quotes paths with spaces and runs system units as the user", async () => {
  const target = await serviceTarget({
    ...request,
    home: "/srv/bot two",
    os: "linux",
    system: true,
    command: ["/usr/bin/deno", "run", "/opt/my hermes/cli/main.ts"],
  });
  const unit = renderSystemdUnit(target);
  assert.ok(unit.includes('ExecStart=/usr/bin/deno run "/opt/my hermes/cli/main.ts" gateway run'));
  assert.ok(unit.includes('Environment="HERMES_HOME=/srv/bot two"'));
  assert.ok(unit.includes("User=ada"));
  assert.ok(unit.includes("WantedBy=multi-user.target"));
});

Deno.test("the launchd plist restarts on failure only and escapes XML", async () => {
  const target = await serviceTarget({ ...request, home: "/Users/a&b/.hermes", os: "darwin" });
  const plist = renderLaunchdPlist(target);
  assert.ok(plist.includes("<string>/Users/a&amp;b/.hermes</string>"));
  assert.match(plist, /<key>SuccessfulExit<\/key>\s*<false\/>/);
  assert.match(
    plist,
    /<string>\/opt\/hermes<\/string>\s*<string>gateway<\/string>\s*<string>run<\/string>/,
  );
  assert.match(plist, /<key>ExitTimeOut<\/key>\s*<integer>250<\/integer>/);
});
