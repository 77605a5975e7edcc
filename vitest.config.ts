import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Timeouts catch a hang, never slowness (speed is for bench/): CI runs two passes at once on
    // two cores, where a 25-second load test has taken over a minute.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: "forks",
    // Test files share their worker's module graph instead of each importing the whole of src
    // again (import time was 130-150 s of a CI pass; the unit tests alone run 36 → 16 s). Every
    // test builds its own runtime, data dir and servers and closes them, so nothing of one file
    // reaches the next.
    isolate: false,
    // s3rver, the S3 peer the tests start in-process, makes its ListObjectsV2 continuation
    // tokens with DES, which OpenSSL 3 only has in its legacy provider: without it every
    // listing past 1000 keys fails with InternalError, where real S3 pages. Only the test
    // workers get the flag; Clawkeep's own processes never do.
    execArgv: ["--openssl-legacy-provider"],
  },
});
