// Mock locks for zwave-js's mock-server (node_modules/zwave-js/bin/mock-server.cjs), started by
// trio_locksync.testing.zwave_js (extended from ../shared/zwave-js-mock/locks.cjs).
//   node 2: plain User Code CC v1 lock, 10 slots, readable codes, unsupervised, Door Lock (mains)
//   node 3: the same + Supervision, masked codes, rejects duplicate codes (Notification 6/15)
//   node 4: sleeping battery lock (Wake Up CC, Battery); wakes only when told via the control port
//   nodes 5..4+$ZWJS_BENCH_LOCKS (default none; for the benchmark): alternately a plain (5, 7, ...)
//   and a masking (6, 8, ...) lock as nodes 2 and 3, each with $ZWJS_BENCH_USERS slots (default 30)
// Every node also has the quirks the stock mock lacks: going dead (no ACK) and back, losing the
// next N User Code Gets, and deleting a code some seconds after a successful Set (zwave-js #9188).
//
// Control port: HTTP on 127.0.0.1:$ZWJS_CONTROL_PORT (the launcher picks a free port).
//   POST /keypad?node=2&action=unlock&user=1   keypad unlock (6) / lock (5) by a user + door report
//   POST /notify?node=2&event=6&user=1         any Access Control notification
//   POST /program?node=2&slot=4                code (request body) entered at the keypad
//   POST /wakeup?node=4                        Wake Up Notification
//   POST /dead?node=2&dead=1                   stop (1) / start (0) answering the radio
//   POST /lose-reads?node=2&count=3            the next 3 User Code Gets get no answer
//   POST /delete-later?node=2&slot=5&seconds=50  the next successful Set of slot 5 is deleted later
//   GET  /slot?node=2&slot=1                   {"status": 1, "code": "1234"} as the mock holds it
//   GET  /door?node=2                          {"door": "locked" | "unlocked"}
//   GET  /health                               {"ok": true}
// Errors answer 400 with a one-line reason (never a code).
const http = require("node:http");

const CONTROL_PORT = Number(process.env.ZWJS_CONTROL_PORT || 5556);
const SLOTS = 10;
const BENCH_LOCKS = Number(process.env.ZWJS_BENCH_LOCKS || 0);
const BENCH_USERS = Number(process.env.ZWJS_BENCH_USERS || 30);
const FIRST_BENCH_NODE = 5;
// what a dead node cannot do: send anything
const AT_THE_DOOR = new Set(["/keypad", "/notify", "/program", "/wakeup"]);

// A host (the Z-Wave JS Server) killed mid-exchange: the stock mock-server dies of the socket's
// ECONNRESET (no 'error' listener on the host socket) or of the unhandled rejection of a transaction
// waiting for the host's ACK; kept alive, it stays wedged in a non-idle transaction ("Received
// SendDataRequest while not idle") for the next host. A real controller times out and goes idle: do that.
let mockController = null;
const idle = () => mockController?.state.set("communicationState", 0); // MockControllerCommunicationState.Idle
process.on("unhandledRejection", (e) => {
  if (e?.code === "EADDRINUSE") { console.error("mock: fatal: serial port in use:", e.message); process.exit(3); }
  console.error("mock: transaction aborted (host gone?):", e?.message ?? e);
  idle();
});
process.on("uncaughtException", (e) => {
  if (e && (e.code === "ECONNRESET" || e.code === "EPIPE")) {
    console.error("mock: host connection reset:", e.code);
    idle();
    return;
  }
  console.error("mock: fatal:", e);
  process.exit(1);
});

const SOF = 0x01, ACK = 0x06, NAK = 0x15, CAN = 0x18;
function makeSplitter() {
  // The TCP bridge hands the mock controller raw socket chunks; an ACK and a frame in one
  // chunk crash the stock mock ("does not start with SOF"). Re-split into headers and frames.
  let pending = Buffer.alloc(0);
  return {
    async onHostData(controller, data) {
      pending = Buffer.concat([pending, Buffer.from(data)]);
      while (pending.length > 0) {
        const b = pending[0];
        if (b === ACK || b === NAK || b === CAN) {
          pending = pending.subarray(1);
          await controller.serialOnData(b);
        } else if (b === SOF) {
          if (pending.length < 2 || pending.length < pending[1] + 2) break;
          const frame = pending.subarray(0, pending[1] + 2);
          pending = pending.subarray(pending[1] + 2);
          void controller.serialOnData(Uint8Array.from(frame));
        } else {
          pending = pending.subarray(1);
        }
      }
      return true;
    },
  };
}

const codeText = (code) =>
  code === undefined || code === null ? "" : typeof code === "string" ? code : Buffer.from(code).toString("latin1");

module.exports.default = ({ require }) => {
  const { CommandClasses, Duration } = require("@zwave-js/core");
  const { NotificationCCReport, WakeUpCCWakeUpNotification } = require("@zwave-js/cc");
  const { UserCodeCCGet, UserCodeCCSet, UserCodeCCReport } = require("@zwave-js/cc/UserCodeCC");
  const { DoorLockCCOperationReport } = require("@zwave-js/cc/DoorLockCC");
  const { createMockZWaveRequestFrame } = require("@zwave-js/testing");
  const SECURED = 0xff, UNSECURED = 0x00; // DoorLockMode
  const st = (self, k) => self.state.get(k);
  const unsolicited = (self, cc) => self.sendToController(createMockZWaveRequestFrame(cc, { ackRequested: false }));
  const notify = (controller, self, event, userId) =>
    unsolicited(self, new NotificationCCReport({
      nodeId: controller.ownNodeId, notificationType: 6, notificationEvent: event,
      eventParameters: Uint8Array.from([userId]),
    }));
  const reportDoor = (controller, self) => {
    const mode = st(self, "DoorLock_currentMode") ?? UNSECURED;
    return unsolicited(self, new DoorLockCCOperationReport({
      nodeId: controller.ownNodeId, currentMode: mode, targetMode: mode,
      outsideHandlesCanOpenDoor: [true, true, true, true], insideHandlesCanOpenDoor: [true, true, true, true],
      duration: new Duration(0, "seconds"),
    }));
  };

  // First in every node's behaviours: the quirks a real radio has and the stock mock lacks.
  const quirks = {
    handleCC(controller, self, cc) {
      if (st(self, "Mock_dead")) return { action: "stop" }; // no ACK (autoAck is off), no answer
      if (cc instanceof UserCodeCCGet && (st(self, "Mock_loseReads") ?? 0) > 0) {
        self.state.set("Mock_loseReads", st(self, "Mock_loseReads") - 1);
        console.error(`mock: node ${self.id}: User Code Get ${cc.userId} lost`);
        return { action: "stop" }; // ACKed, never answered
      }
    },
  };
  // Last of the custom behaviours (after a duplicate refusal has answered): zwave-js #9188, a lock
  // that reports success and deletes the code ~50 s later ("Single user code deleted", 6/13).
  const lateDelete = (users) => ({
    handleCC(controller, self, cc) {
      if (!(cc instanceof UserCodeCCSet) || cc.userIdStatus === 0 || cc.userId < 1 || cc.userId > users) return;
      const armed = st(self, "Mock_deleteLater") ?? new Map();
      const seconds = armed.get(cc.userId);
      if (seconds === undefined) return;
      armed.delete(cc.userId);
      setTimeout(() => {
        self.state.set(`UserCode_userIdStatus_${cc.userId}`, 0);
        self.state.set(`UserCode_userCode_${cc.userId}`, undefined);
        console.error(`mock: node ${self.id}: slot ${cc.userId} deleted after ${seconds} s`);
        void notify(controller, self, 13, cc.userId).catch(() => {});
      }, seconds * 1000).unref();
      // undefined: the stock behaviour stores the code and answers
    },
  });
  const masked = {
    handleCC(controller, self, cc) {
      if (!(cc instanceof UserCodeCCGet)) return;
      const status = st(self, `UserCode_userIdStatus_${cc.userId}`) ?? 0;
      const report = status === 0
        ? new UserCodeCCReport({ nodeId: controller.ownNodeId, userId: cc.userId, userIdStatus: 0 })
        : new UserCodeCCReport({ nodeId: controller.ownNodeId, userId: cc.userId, userIdStatus: status, userCode: "**********" });
      return { action: "sendCC", cc: report };
    },
  };
  const rejectDuplicates = (users) => ({
    async handleCC(controller, self, cc) {
      if (!(cc instanceof UserCodeCCSet) || cc.userIdStatus === 0) return;
      for (let i = 1; i <= users; i++) {
        if (i !== cc.userId && st(self, `UserCode_userIdStatus_${i}`) === 1
            && codeText(st(self, `UserCode_userCode_${i}`)) === codeText(cc.userCode)) {
          await notify(controller, self, 15, cc.userId);
          return { action: "fail" };
        }
      }
    },
  });
  const uc = (users) => ({ ccId: CommandClasses["User Code"], version: 1, numUsers: users });
  const notif = { ccId: CommandClasses.Notification, version: 8, supportsV1Alarm: false,
                  notificationTypesAndEvents: { 6: [1, 2, 3, 4, 5, 6, 9, 13, 14, 15] } };
  const doorLock = { ccId: CommandClasses["Door Lock"], version: 4 };
  const lockCaps = (extra, users = SLOTS) => ({
    genericDeviceClass: 0x40, specificDeviceClass: 0x03,
    commandClasses: [CommandClasses.Version, CommandClasses["Manufacturer Specific"], uc(users), notif, ...extra],
  });
  const plainLock = (id, users = SLOTS) =>
    ({ id, capabilities: lockCaps([doorLock], users), behaviors: [quirks, lateDelete(users)] });
  const maskingLock = (id, users = SLOTS) =>
    ({ id, capabilities: lockCaps([doorLock, CommandClasses.Supervision], users),
       behaviors: [quirks, masked, rejectDuplicates(users), lateDelete(users)] });
  const benchLocks = Array.from({ length: BENCH_LOCKS }, (_, i) =>
    (i % 2 === 0 ? plainLock : maskingLock)(FIRST_BENCH_NODE + i, BENCH_USERS));
  return {
    controller: { behaviors: [makeSplitter()] },
    nodes: [
      plainLock(2),
      maskingLock(3),
      { id: 4, capabilities: { ...lockCaps([{ ccId: CommandClasses["Wake Up"], version: 2 }, CommandClasses.Battery]),
                               isListening: false, isFrequentListening: false },
        behaviors: [quirks, lateDelete(SLOTS)] },
      ...benchLocks,
    ],
    onInit(controller, nodes) {
      mockController = controller;
      const byId = new Map(nodes.map((n) => [n.id, n]));
      for (const n of nodes) {
        n.state.set("UserCode_userIdStatus_1", 1); n.state.set("UserCode_userCode_1", "1234");
        n.state.set("DoorLock_currentMode", SECURED);
      }
      const routes = {
        "POST /keypad": async (self, q) => {
          const unlock = q.get("action") === "unlock";
          if (!unlock && q.get("action") !== "lock") throw new Error("action is lock or unlock");
          self.state.set("DoorLock_currentMode", unlock ? UNSECURED : SECURED);
          await notify(controller, self, unlock ? 6 : 5, Number(q.get("user")));
          await reportDoor(controller, self);
        },
        "POST /notify": (self, q) => notify(controller, self, Number(q.get("event")), Number(q.get("user"))),
        "POST /program": async (self, q, body) => {
          const slot = Number(q.get("slot"));
          self.state.set(`UserCode_userIdStatus_${slot}`, 1); self.state.set(`UserCode_userCode_${slot}`, body);
          await unsolicited(self, new UserCodeCCReport({
            nodeId: controller.ownNodeId, userId: slot, userIdStatus: 1, userCode: body }));
          await notify(controller, self, 14, slot);
        },
        "POST /wakeup": (self) => unsolicited(self, new WakeUpCCWakeUpNotification({ nodeId: controller.ownNodeId })),
        "POST /dead": async (self, q) => {
          const dead = q.get("dead") === "1";
          self.state.set("Mock_dead", dead);
          self.autoAckControllerFrames = !dead;
          // back on the air: a real lock reports its state when it comes back; any frame from a
          // dead node makes the driver mark it alive (zwave-js Driver.handleRequest)
          if (!dead) await reportDoor(controller, self);
        },
        "POST /lose-reads": (self, q) => self.state.set("Mock_loseReads", Number(q.get("count"))),
        "POST /delete-later": (self, q) => {
          const armed = st(self, "Mock_deleteLater") ?? new Map();
          armed.set(Number(q.get("slot")), Number(q.get("seconds")));
          self.state.set("Mock_deleteLater", armed);
        },
        "GET /slot": (self, q) => {
          const slot = Number(q.get("slot"));
          return { status: st(self, `UserCode_userIdStatus_${slot}`) ?? 0,
                   code: codeText(st(self, `UserCode_userCode_${slot}`)) };
        },
        "GET /door": (self) => ({ door: st(self, "DoorLock_currentMode") === SECURED ? "locked" : "unlocked" }),
      };
      http.createServer((req, res) => {
        let body = "";
        req.on("data", (chunk) => { body += chunk; });
        req.on("end", async () => {
          const u = new URL(req.url, "http://x");
          res.setHeader("content-type", "application/json");
          try {
            if (u.pathname === "/health") { res.end('{"ok":true}\n'); return; }
            const route = routes[`${req.method} ${u.pathname}`];
            if (!route) throw new Error(`unknown request ${req.method} ${u.pathname}`);
            const self = byId.get(Number(u.searchParams.get("node")));
            if (!self) throw new Error("no such node");
            if (st(self, "Mock_dead") && AT_THE_DOOR.has(u.pathname)) throw new Error("the node is dead");
            const result = await route(self, u.searchParams, body);
            res.end(JSON.stringify(result ?? { ok: true }) + "\n");
          } catch (e) {
            res.statusCode = 400;
            res.end(JSON.stringify({ error: String(e?.message ?? e) }) + "\n");
          }
        });
      }).on("error", (e) => {
        console.error("mock: fatal: control port:", e.message);
        process.exit(3);
      }).listen(CONTROL_PORT, "127.0.0.1", () => console.log(`Control port listening on http://127.0.0.1:${CONTROL_PORT}`));
    },
  };
};
