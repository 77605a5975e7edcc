import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { ClawkeepError } from "../errors.js";
import { fromRecovered, type Curve } from "./curves.js";

// Worker-mode signatures are computed on a thread of their own. The curve arithmetic of one
// signature costs as much as everything else a sign request does on the event loop put together,
// and the event loop is what every request queues for: on a thread, signing runs beside the
// requests instead of between them (and a burst of signatures no longer stalls unrelated routes).
// The private key is moved to the thread (its buffer transferred, not copied), used once and
// zeroed there.
//
// The thread's code is a string (an eval worker), so it loads the same way from dist/ and from
// the TypeScript sources under test; it calls @noble/curves exactly as curves.ts does (RFC 6979
// nonces, low s, the recovery id), and test/unit/sign-thread.test.ts checks the two give the
// same bytes: both curves sign deterministically.

const THREAD_CODE = `
const { parentPort, workerData } = require("node:worker_threads");
Promise.all([import(workerData.secp256k1), import(workerData.ed25519)]).then(([{ secp256k1 }, { ed25519 }]) => {
  parentPort.on("message", ({ id, curve, key, input }) => {
    const k = new Uint8Array(key);
    try {
      const sig = curve === "secp256k1"
        ? secp256k1.sign(new Uint8Array(input), k, { prehash: false, lowS: true, format: "recovered" })
        : ed25519.sign(new Uint8Array(input), k);
      parentPort.postMessage({ id, sig }, [sig.buffer]);
    } catch (e) {
      parentPort.postMessage({ id, error: String((e && e.message) || e) });
    } finally {
      k.fill(0);
    }
  });
  parentPort.postMessage({ ready: true });
});
`;

export type ThreadSignature = { curve: "secp256k1"; signature: Uint8Array; r: Uint8Array; s: Uint8Array; recovery: number } | { curve: "ed25519"; signature: Uint8Array };

export interface SignThread {
  /** Signs `input` with `key`, which is moved to the thread (detached here) and zeroed there. */
  sign(curve: Curve, key: Uint8Array, input: Uint8Array): Promise<ThreadSignature>;
  close(): Promise<void>;
}

export function createSignThread(): SignThread {
  const req = createRequire(import.meta.url);
  const modules = { secp256k1: pathToFileURL(req.resolve("@noble/curves/secp256k1.js")).href, ed25519: pathToFileURL(req.resolve("@noble/curves/ed25519.js")).href };
  let worker: Worker | null = null;
  let next = 0;
  const pending = new Map<number, { curve: Curve; resolve: (s: ThreadSignature) => void; reject: (e: Error) => void }>();

  const failAll = (why: string) => {
    for (const p of pending.values()) p.reject(new ClawkeepError("unavailable", `signing thread stopped (${why}); retry`));
    pending.clear();
  };

  function start(): Worker {
    const w = new Worker(THREAD_CODE, { eval: true, workerData: modules });
    w.unref();
    w.on("message", (m: { id?: number; sig?: Uint8Array; error?: string; ready?: boolean }) => {
      if (m.id === undefined) return;
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (pending.size === 0) w.unref();
      if (m.error !== undefined || !m.sig) return p.reject(new ClawkeepError("internal", "signing failed"));
      p.resolve(p.curve === "secp256k1" ? { curve: "secp256k1", ...fromRecovered(m.sig) } : { curve: "ed25519", signature: m.sig });
    });
    // A thread that dies takes its requests with it (they fail, nothing is signed twice); the
    // next signature starts a new one.
    w.on("error", (e) => {
      if (worker === w) worker = null;
      failAll(e.message);
    });
    w.on("exit", (code) => {
      if (worker === w) worker = null;
      failAll(`exited with ${code}`);
    });
    return w;
  }

  return {
    sign(curve, key, input) {
      if (curve === "secp256k1" && input.length !== 32) {
        key.fill(0);
        return Promise.reject(new RangeError("digest must be 32 bytes"));
      }
      worker ??= start();
      const id = next++;
      const w = worker;
      return new Promise<ThreadSignature>((resolve, reject) => {
        // Held open while a signature is owed (a CLI command may have nothing else running).
        if (pending.size === 0) w.ref();
        pending.set(id, { curve, resolve, reject });
        const k = new Uint8Array(key.length);
        k.set(key);
        key.fill(0);
        const msg = Uint8Array.from(input);
        w.postMessage({ id, curve, key: k.buffer, input: msg.buffer }, [k.buffer, msg.buffer]);
      });
    },
    async close() {
      const w = worker;
      worker = null;
      failAll("closed");
      await w?.terminate();
    },
  };
}
