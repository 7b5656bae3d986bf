import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { diesWithParent, processAlive } from "../../../src/util/kill.js";

describe("diesWithParent", () => {
  it("a long-running child started through it dies when its parent is killed with SIGKILL", async () => {
    const argv = diesWithParent(["sleep", "30"]);
    expect(argv.slice(1, 4)).toEqual(["--pdeathsig", "KILL", "--"]);
    // A parent that starts the child (as standby starts `ip monitor`) and prints its pid.
    const parent = spawn(
      process.execPath,
      [
        "-e",
        `const c = require("node:child_process").spawn(${JSON.stringify(argv[0])}, ${JSON.stringify(argv.slice(1))}, { stdio: "ignore" });
         c.on("spawn", () => console.log(c.pid));
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const pid = await new Promise<number>((resolve) =>
      parent.stdout!.once("data", (d) => resolve(Number(String(d)))),
    );
    // setpriv execs the program: the pid is sleep's own.
    await new Promise((r) => setTimeout(r, 100));
    expect(processAlive(pid)).toBe(true);
    parent.kill("SIGKILL");
    const t0 = Date.now();
    while (processAlive(pid) && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
    expect(processAlive(pid)).toBe(false);
  });
});
