// Config of the Z-Wave JS Server started by trio_locksync.testing.zwave_js (`--config`). The
// launcher passes the storage directory in ZWJS_CACHE_DIR (private to one server, a temp dir).
// The server needs securityKeys.S0_Legacy whenever --config is given (zwave-js-server
// src/bin/server.ts:80-119); the mock nodes use no security, so these keys are never used.
module.exports = {
  storage: { cacheDir: process.env.ZWJS_CACHE_DIR },
  logConfig: { enabled: true, level: "info", logToFile: false },
  securityKeys: {
    S0_Legacy: "0102030405060708090a0b0c0d0e0f10",
    S2_Unauthenticated: "1102030405060708090a0b0c0d0e0f10",
    S2_Authenticated: "2102030405060708090a0b0c0d0e0f10",
    S2_AccessControl: "3102030405060708090a0b0c0d0e0f10",
  },
  emitValueUpdateAfterSetValue: true,
};
