import assert from "node:assert/strict";
import { test } from "node:test";
import type { Forecaster } from "../../src/forecast/forecaster.js";
import { InterArrivalForecaster } from "../../src/forecast/models/interarrival.js";
import { registerForecaster } from "../../src/forecast/registry.js";
import { eventually, startHarness, writeTask } from "./harness.js";

/** Throws for user "thrower", returns NaN for user "nan", and is a fine histogram for the rest. */
class BrokenForecaster implements Forecaster {
  readonly name = "broken-test";
  private readonly inner = new InterArrivalForecaster();
  fit(h: Parameters<Forecaster["fit"]>[0]) {
    const model = this.inner.fit(h);
    return {
      model: "broken-test",
      predict: (req: Parameters<ReturnType<Forecaster["fit"]>["predict"]>[0]) => {
        if (h.user === "thrower") throw new Error("model exploded");
        const f = model.predict(req);
        if (h.user === "nan") for (const m of f.minutes) m.pAny = Number.NaN;
        return f;
      },
    };
  }
}

test("a forecaster that throws or returns NaN costs only its series: skipped, logged, tasks still run", async () => {
  registerForecaster("broken-test", () => new BrokenForecaster());
  const h = await startHarness({
    // The forecast-window path (the forewarm default plans from its own learner, not from forecasts).
    prediction: {
      model: "broken-test",
      windowPolicy: "threshold",
      retrainIntervalMs: 50,
      planIntervalMs: 20,
      confidenceThreshold: 0,
    },
  });
  try {
    writeTask(h.tasksDir, "t.mjs", "export const handler = (x) => x;\n");
    for (const user of ["thrower", "nan", "fine"]) {
      for (let i = 0; i < 3; i++) {
        const r = (await h.post({ user, type: "t", runtime: "node", entry: "t.mjs", input: i }, "?wait=true"))
          .body;
        assert.equal(r.status, "succeeded");
      }
    }
    const plan = await eventually(async () => {
      const p = (await h.get("/v1/plan")).body as { skipped: { series: string; reason: string }[] };
      const why = (u: string) => p.skipped.find((s) => s.series === `${u}|t`)?.reason;
      return why("thrower") && why("nan") ? p : undefined;
    });
    const why = (u: string) => plan.skipped.find((s) => s.series === `${u}|t`)?.reason ?? "";
    assert.match(why("thrower"), /forecast failed: model exploded/);
    assert.match(why("nan"), /forecast invalid: pAny NaN/);
    assert.ok(!plan.skipped.some((s) => s.series === "fine|t" && /fail|invalid/.test(s.reason)));
    const after = (
      await h.post({ user: "thrower", type: "t", runtime: "node", entry: "t.mjs", input: 9 }, "?wait=true")
    ).body;
    assert.equal(after.status, "succeeded", "the system keeps working reactively");
  } finally {
    await h.server.close();
  }
});
