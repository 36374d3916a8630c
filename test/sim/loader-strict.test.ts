import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { storeSeries } from "../../src/forecast/store-series.js";
import type { MinuteRollup } from "../../src/history/store.js";
import { loadTrace } from "../../src/sim/loaders/index.js";
import { rejectsWith, traceFiles } from "./bad-traces.js";
import { CLI } from "./traces.js";

const { dir, file } = traceFiles("forewarm-loaders-strict-");

const swfJob = (id: number, submit: string, run: string, user: string, exe: string) =>
  `${id} ${submit} 0 ${run} 1 -1 -1 -1 -1 -1 1 ${user} 1 ${exe} 1 -1 -1 -1`;

test("csv --time-format iso: text that is not strict ISO-8601 is a line error naming the column, in any TZ", async () => {
  const map = "time=t,user=u,type=k";
  for (const [line, time] of [
    [3, "1"],
    [3, "12"],
    [3, "March 7"],
    [3, "2019-03-07T10"],
  ] as const) {
    const f = file("iso-text.csv", `t,u,k\n2019-03-07,a,f\n${time},a,f\n`);
    await rejectsWith(
      loadTrace({ format: "csv", trace: f, map, timeFormat: "iso" }),
      new RegExp(`^${f}:${line}: 't' is not an ISO-8601 time \\(.*\\): '${time}'$`),
    );
  }
  // Date.parse read these in the process's local time zone: the CLI under New York time refuses them too.
  const cli = file("iso-cli.csv", "t,u,k\n2019-03-07,a,f\nMarch 7,a,f\n");
  const r = spawnSync(
    process.execPath,
    [CLI, "replay", "--format", "csv", "--trace", cli, "--map", map, "--time-format", "iso", "--json"],
    { encoding: "utf8", env: { ...process.env, TZ: "America/New_York" } },
  );
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`^forewarm: ${cli}:3: 't' is not an ISO-8601 time`));
});

test("csv --time-format iso: a calendar date that would roll over (Feb 30) is a line error, skipped under --skip-bad; real dates load", async () => {
  const map = "time=t,user=u,type=k";
  const f = file(
    "iso-date.csv",
    "t,u,k\n2019-03-02T00:00:00Z,a,f\n2019-02-30,a,f\n2019-02-28T24:00,a,f\n1900-02-29,a,f\n",
  );
  await rejectsWith(
    loadTrace({ format: "csv", trace: f, map, timeFormat: "iso" }),
    new RegExp(`^${f}:3: 't': no such date or time: '2019-02-30'$`),
  );
  const skipped = await loadTrace({ format: "csv", trace: f, map, timeFormat: "iso", skipBad: true });
  assert.equal(skipped.skippedLines, 3);
  assert.equal(skipped.minutes.invocations, 1);
  assert.deepEqual(Array.from(skipped.minutes.busyMinute), [Date.UTC(2019, 2, 2) / 60_000]);
  // Dates, zone-less times (UTC), fractions and offsets still load.
  const ok = file(
    "iso-ok.csv",
    "t,u,k\n2020-02-29,a,f\n2020-02-29T00:01:59.999,a,f\n2020-02-29 01:02+01:00,a,f\n2020-02-28T19:03:00-0500,a,f\n",
  );
  const loaded = await loadTrace({ format: "csv", trace: ok, map, timeFormat: "iso", wantEvents: true });
  const day = Date.UTC(2020, 1, 29) / 1000;
  assert.deepEqual(Array.from(loaded.events!.start), [day, day + 119.999, day + 120, day + 180]);
});

test("csv loader: a '/' inside user or type does not merge two (user, type) apps", async () => {
  const f = file("slash.csv", "u,k,t,d\na/b,c,60,1\na,b/c,120,1\na/b,c,180,1\n");
  const loaded = await loadTrace({ format: "csv", trace: f, map: "time=t,user=u,type=k,duration=d" });
  assert.equal(loaded.minutes.appNames.length, 2);
  assert.deepEqual(loaded.minutes.appNames, ["a%2Fb/c", "a/b/c"]);
  assert.deepEqual(Array.from(loaded.minutes.appOffset), [0, 2, 3]);
  // Escaping is injective: a user that already reads "a%2Fb" stays apart from the user "a/b".
  const pct = file("percent.csv", "u,k,t\na/b,c,60\na%2Fb,c,120\n");
  const both = await loadTrace({ format: "csv", trace: pct, map: "time=t,user=u,type=k" });
  assert.deepEqual(both.minutes.appNames, ["a%2Fb/c", "a%252Fb/c"]);
});

test("google2011-jobs and swf loaders: a '/' inside user or job name does not merge apps", async () => {
  const google = file(
    "slash-google.csv",
    "submit_us,schedule_us,end_us,end_event,job_id,user,logical_job_name\n0,0,,,1,a/b,c\n60000000,0,,,2,a,b/c\n",
  );
  const g = await loadTrace({ format: "google2011-jobs", trace: google });
  assert.deepEqual(g.minutes.appNames, ["a%2Fb/c", "a/b/c"]);
  const swf = file(
    "slash.swf",
    `${swfJob(1, "0", "10", "1/x2", "3")}\n${swfJob(2, "60", "10", "1", "2/x3")}\n`,
  );
  const s = await loadTrace({ format: "swf", trace: swf });
  assert.deepEqual(s.minutes.appNames, ["u1%2Fx2/x3", "u1/x2/x3"]);
});

test("history store series: (a/b, c) and (a, b/c) get different keys", () => {
  const rollup = (user: string, taskType: string, minute: number): MinuteRollup => ({
    user,
    taskType,
    minute,
    arrivals: 1,
    peakConcurrency: 1,
    cpuSeconds: 0,
    peakMemoryMb: 0,
    memoryMbSum: 0,
    completed: 1,
    networkInBytes: 0,
    networkOutBytes: 0,
    storageBytesWritten: 0,
    firstArrivalMs: null,
    memoryMb: null,
  });
  const series = storeSeries([rollup("a", "b/c", 5), rollup("a/b", "c", 7), rollup("u1", "m", 9)]);
  // The same names the csv loader gives these pairs; a plain pair keeps its plain key.
  assert.deepEqual(
    series.map((s) => s.key),
    ["a/b/c", "a%2Fb/c", "u1/m"],
  );
});

test("csv loader: a negative duration is a line error naming the column, as in azure2021", async () => {
  const f = file("neg.csv", "u,k,t,d\na,b,60,1\na,b,120,-5\na,b,180,2\n");
  const map = "time=t,user=u,type=k,duration=d";
  await rejectsWith(
    loadTrace({ format: "csv", trace: f, map }),
    new RegExp(`^${f}:3: 'd': negative duration: -5$`),
  );
  const skipped = await loadTrace({ format: "csv", trace: f, map, skipBad: true, wantEvents: true });
  assert.equal(skipped.skippedLines, 1);
  assert.deepEqual(Array.from(skipped.events!.duration), [1, 2]);
});

test("numeric fields are plain decimal: hex, octal and binary are line errors naming the field", async () => {
  const az21 = file("hex21.csv", "app,func,end_timestamp,duration\na,f,100,1\na,f,0x100,1\n");
  await rejectsWith(
    loadTrace({ format: "azure2021", trace: az21 }),
    new RegExp(`^${az21}:3: 'end_timestamp' is not a number: '0x100'$`),
  );
  const swf = file(
    "hex.swf",
    `; c\n${swfJob(1, "0", "10", "3", "7")}\n${swfJob(2, "60", "0x10", "3", "7")}\n`,
  );
  await rejectsWith(
    loadTrace({ format: "swf", trace: swf }),
    new RegExp(`^${swf}:3: 'run time \\(field 4\\)' is not a number: '0x10'$`),
  );
  const swfSubmit = file("oct.swf", `${swfJob(1, "0o7", "10", "3", "7")}\n`);
  await rejectsWith(
    loadTrace({ format: "swf", trace: swfSubmit }),
    new RegExp(`^${swfSubmit}:1: 'submit time \\(field 2\\)' is not a number: '0o7'$`),
  );
  const google = file(
    "hex-google.csv",
    "submit_us,schedule_us,end_us,end_event,job_id,user,logical_job_name\n0,0,,,1,u,j\n0b1,0,,,2,u,j\n",
  );
  await rejectsWith(
    loadTrace({ format: "google2011-jobs", trace: google }),
    new RegExp(`^${google}:3: 'submit_us' is not a number: '0b1'$`),
  );
  const csv = file("hex.csv", "t,u,k\n60,a,f\n0x100,a,f\n");
  await rejectsWith(
    loadTrace({ format: "csv", trace: csv, map: "time=t,user=u,type=k" }),
    new RegExp(`^${csv}:3: 't' is not a time in format s: '0x100'$`),
  );
  // Decimal forms still load: sign, fraction, exponent.
  const ok = file("dec21.csv", "app,func,end_timestamp,duration\na,f,1.5e2,+0.5\na,f,.75,0\n");
  const loaded = await loadTrace({ format: "azure2021", trace: ok, wantEvents: true });
  assert.deepEqual(Array.from(loaded.events!.start), [0.75, 149.5]);
});

test("a directory given as a trace: one message without a bogus line number", async () => {
  const d = join(dir, "tr");
  mkdirSync(d, { recursive: true });
  const expected = new RegExp(`^${d}: is a directory, not a trace file$`);
  await rejectsWith(loadTrace({ format: "azure2021", trace: d }), expected);
  await rejectsWith(loadTrace({ format: "csv", trace: d, map: "time=t,user=u" }), expected);
  await rejectsWith(loadTrace({ format: "swf", trace: d }), expected);
  await rejectsWith(loadTrace({ format: "azure2019", invocations: d }), expected);
  const r = spawnSync(process.execPath, [CLI, "replay", "--format", "google2011-jobs", "--trace", d], {
    encoding: "utf8",
  });
  assert.equal(r.status, 1);
  assert.equal(r.stderr, `forewarm: ${d}: is a directory, not a trace file\n`);
});
