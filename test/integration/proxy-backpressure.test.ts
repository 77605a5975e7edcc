import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tempDir } from "../helpers/runtime.js";
import { startServer, type ServerProc } from "../helpers/proc.js";
import WebSocket from "ws";
import { startGateway, type Gateway } from "../helpers/gateway.js";

// A slow client must slow the gateway down, not fill the server's memory: the gateway streams
// 512 MiB (respecting its own socket's backpressure, as any server does) to a client that first
// stalls and then reads in small sips. The server runs in its own process; its resident set,
// read from /proc/<pid>/status, may not grow by 64 MiB or more. Not timed: only memory and the
// byte count are asserted.
//
// What the RSS shows is a sawtooth of buffers waiting for the garbage collector: 23-35 MiB above
// the baseline on Node 20, 75-90 MiB on Node 24 (which collects later), flat for the whole
// transfer on both. A relay that buffered would instead climb with the bytes streamed. So the
// test asserts that the peak stays under 128 MiB above the baseline (a quarter of the 512 MiB, half
// of the 256 MiB) and, for the 512 MiB body, that the second half of the transfer peaks no higher
// than the first half did, give or take 32 MiB.

const HTTP_TOTAL = 512 * 1024 * 1024;
const CHUNK = Buffer.alloc(256 * 1024, 0x61);

const WS_TOTAL = 256 * 1024 * 1024;
const WS_FRAME = Buffer.alloc(64 * 1024, 0x62);

const MIB = 1024 * 1024;
const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;

/** Samples a process's RSS every 25 ms until stopped; then checks it stayed flat and bounded. */
function rssWatch(pid: number, what: string) {
  const baseline = rssOf(pid);
  const samples: number[] = [];
  const timer = setInterval(() => samples.push(rssOf(pid)), 25);
  return () => {
    clearInterval(timer);
    const half = Math.floor(samples.length / 2);
    const first = Math.max(baseline, ...samples.slice(0, half));
    const second = Math.max(baseline, ...samples.slice(half));
    const peak = Math.max(first, second);
    console.log(`${what} RSS baseline ${(baseline / MIB).toFixed(1)} MiB, peak ${(peak / MIB).toFixed(1)} MiB (first half ${(first / MIB).toFixed(1)}, second half ${(second / MIB).toFixed(1)})`);
    expect(samples.length).toBeGreaterThan(20);
    expect(peak - baseline).toBeLessThan(128 * MIB);
    return { first, second };
  };
}

describe("proxy backpressure", () => {
  let dir: string;
  let server: ServerProc;
  let gw: Gateway;
  let token: string;

  beforeAll(async () => {
    dir = tempDir();
    gw = await startGateway();
    gw.onRequest = (_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(HTTP_TOTAL) });
      let sent = 0;
      const pump = () => {
        while (sent < HTTP_TOTAL) {
          sent += CHUNK.length;
          if (!res.write(CHUNK)) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
    };
    // WebSocket: 256 MiB in 64 KiB binary frames, the gateway waiting whenever its own send
    // buffer passes 4 MiB (as a well-behaved gateway does).
    gw.onSocket = (ws) => {
      let sent = 0;
      const pump = () => {
        while (sent < WS_TOTAL) {
          sent += WS_FRAME.length;
          ws.send(WS_FRAME, { binary: true });
          if (ws.bufferedAmount > 4 * 1024 * 1024) return void setTimeout(pump, 2);
        }
        ws.close(1000, "done");
      };
      pump();
    };
    server = await startServer(dir, { CLAWKEEP_LOG_LEVEL: "info" });
    const admin = { authorization: `Bearer ${server.adminToken()}`, "content-type": "application/json" };
    token = ((await (await fetch(`${server.url}/v1/users`, { method: "POST", headers: admin, body: JSON.stringify({ name: "slow" }) })).json()) as { token: string }).token;
    const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    expect((await fetch(`${server.url}/v1/agents`, { method: "POST", headers: auth, body: JSON.stringify({ name: "bot" }) })).status).toBe(201);
    expect((await fetch(`${server.url}/v1/agents/bot/gateway`, { method: "PUT", headers: auth, body: JSON.stringify({ url: gw.url }) })).status).toBe(200);
  });
  afterAll(async () => {
    await server?.stop();
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("streams 512 MiB to a slow reader with RSS flat and under 128 MiB of growth", async () => {
    const pid = server.proc.pid!;
    // Warm up the code paths (and the keep-alive pool) before taking the baseline.
    for (let i = 0; i < 3; i++) await fetch(`${server.url}/v1/agents/bot/gateway/x`, { headers: { authorization: `Bearer ${token}` }, method: "HEAD" }).catch(() => undefined);
    const done = rssWatch(pid, "proxy");
    const u = new URL(server.url);
    const received = await new Promise<number>((resolve, reject) => {
      http
        .get({ hostname: u.hostname, port: u.port, path: "/v1/agents/bot/gateway/big", headers: { authorization: `Bearer ${token}` } }, (res) => {
          expect(res.statusCode).toBe(200);
          res.pause();
          let total = 0;
          let timer: NodeJS.Timeout | undefined;
          // Stall first: the gateway keeps offering bytes while nobody reads.
          setTimeout(() => {
            timer = setInterval(() => {
              let got = 0;
              let c: Buffer | null;
              while (got < 512 * 1024 && (c = res.read() as Buffer | null) !== null) got += c.length;
              total += got;
            }, 2);
          }, 1500);
          res.on("end", () => {
            clearInterval(timer);
            resolve(total);
          });
          res.on("error", reject);
        })
        .on("error", reject);
    });
    const { first, second } = done();
    expect(received).toBe(HTTP_TOTAL);
    // Reading runs through both halves of this one: a climb would show in the second.
    expect(second - first).toBeLessThan(32 * MIB);
  }, 300_000);

  it("relays 256 MiB of WebSocket frames to a stalled, then slow, client with RSS under 128 MiB of growth", async () => {
    const pid = server.proc.pid!;
    const done = rssWatch(pid, "ws relay");
    const ws = new WebSocket(`${server.url.replace("http", "ws")}/v1/agents/bot/gateway/big-ws`, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    const result = await new Promise<{ bytes: number; code: number }>((resolve, reject) => {
      let bytes = 0;
      ws.on("open", () => {
        // Stall, then read in short bursts: the relay must stop reading from the gateway.
        ws.pause();
        setTimeout(() => {
          const t = setInterval(() => {
            ws.resume();
            setTimeout(() => ws.pause(), 1);
          }, 4);
          ws.once("close", () => clearInterval(t));
        }, 1500);
      });
      ws.on("message", (d: Buffer) => (bytes += d.length));
      ws.on("close", (code) => resolve({ bytes, code }));
      ws.on("error", reject);
    });
    done();
    expect(result).toEqual({ bytes: WS_TOTAL, code: 1000 });
  }, 300_000);
});
