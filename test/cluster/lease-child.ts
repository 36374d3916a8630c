/**
 * A participant in the fail-over test, run as its own process:
 *   node lease-child.js <connectionString> <schema> <retryMs>
 * It prints one JSON line per transition ({"event":"leader"|"follower","pid":…}) on stdout and
 * exits when stdin closes (its parent died) or on SIGTERM. Without arguments it does nothing, so
 * that `node --test dist/test/` running every file under test/ leaves it alone.
 */
import { LeaderLease } from "../../src/cluster/leader-lease.js";

const [connectionString, schema, retry] = process.argv.slice(2);

async function main(url: string, schemaName: string, retryMs: number): Promise<void> {
  const say = (event: string, extra: Record<string, unknown> = {}) =>
    process.stdout.write(`${JSON.stringify({ event, pid: process.pid, ...extra })}\n`);
  const lease = new LeaderLease({
    connectionString: url,
    schema: schemaName,
    retryMs,
    onChange: (leader) => say(leader ? "leader" : "follower"),
    onError: (err) => say("error", { message: err.message }),
  });
  await lease.start();
  if (!lease.isLeader()) say("follower");
  const shutdown = async () => {
    await lease.stop();
    process.exit(0);
  };
  process.on("SIGTERM", shutdown);
  process.stdin.on("end", shutdown);
  process.stdin.resume();
}

if (connectionString && schema && retry) {
  main(connectionString, schema, Number(retry)).catch((err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
