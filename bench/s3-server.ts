// s3rver in a process of its own for bench/scale.ts, so the S3 stand-in does not share an event
// loop with the load generator. Usage: node --import tsx bench/s3-server.ts <dir> <bucket>.
// Prints "listening on http://127.0.0.1:<port>" once the bucket exists; stops on SIGTERM.
import S3rver from "s3rver";

const [dir, bucket] = process.argv.slice(2);
if (!dir || !bucket) throw new Error("usage: s3-server.ts <dir> <bucket>");
const server = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: dir, configureBuckets: [{ name: bucket, configs: [] }] });
const { port } = await server.run();
process.stdout.write(`listening on http://127.0.0.1:${port}\n`);
const stop = () => void server.close().finally(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
