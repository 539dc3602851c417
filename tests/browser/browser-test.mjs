// browser-test.mjs: run a notebook end to end through Jupyter's web UI in headless Chromium.
//
//   node tests/browser/browser-test.mjs [--notebook notebooks/02-quickstart.ipynb] [--out _build/browser]
//        [--min-images 4] [--timeout 1200] [--port 0]
//
// 1. Copies the notebook to <out>/work/<its path> (so the UI's autosave never writes outputs into
//    the tracked file; the copy is still inside the repository, so the setup cell finds go.mod).
// 2. Starts `make lab` (Jupyter Notebook + the GoNB kernel) on 127.0.0.1 at a free port, with a
//    random token (JUPYTER_TOKEN); NMFLOW_SCALE passes through to the kernel (scripts/browser-test.sh
//    sets ci).
// 3. Opens the notebook in Debian's Chromium through playwright-core (no browser download),
//    waits for the kernel, clicks Cell → Run All, and waits until no cell is queued or running.
// 4. Fails unless every code cell ran, no cell shows an error output (or a failed shell line's
//    "exit status N" on stderr), and at least --min-images figures rendered as decoded PNG images.
// 5. Saves <out>/<name>.png (a screenshot of the whole notebook), <out>/<name>.json (the
//    result) and <out>/jupyter.log, and stops Jupyter and its kernel.
//
// Environment: CHROMIUM (default /usr/bin/chromium), BROWSER_DEPS (folder with
// node_modules/playwright-core, default <repo>/_build/browser/deps; scripts/install-browser.sh
// fills it), MAKE (default make).
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import crypto from "node:crypto";
import { fileURLToPath } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function parseArgs(argv) {
  const opt = { notebook: "notebooks/02-quickstart.ipynb", out: "_build/browser", minImages: 4, timeout: 1200, port: 0 };
  for (let i = 0; i < argv.length; i++) {
    const [key, inline] = argv[i].split("=", 2);
    const val = () => (inline !== undefined ? inline : argv[++i]);
    switch (key) {
      case "--notebook": opt.notebook = val(); break;
      case "--out": opt.out = val(); break;
      case "--min-images": opt.minImages = Number(val()); break;
      case "--timeout": opt.timeout = Number(val()); break;
      case "--port": opt.port = Number(val()); break;
      case "-h": case "--help":
        console.log(fs.readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").filter((l) => l.startsWith("//")).map((l) => l.slice(3)).join("\n"));
        process.exit(0);
      default:
        throw new Error(`unknown argument ${argv[i]} (see --help)`);
    }
  }
  return opt;
}

const log = (...a) => console.log("browser-test:", ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitForServer(base, token, proc, deadline) {
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`make lab exited with status ${proc.exitCode} before Jupyter answered`);
    try {
      const r = await fetch(`${base}/api/status?token=${token}`);
      if (r.ok) return;
    } catch { /* not listening yet */ }
    await sleep(500);
  }
  throw new Error("Jupyter did not answer within the start-up timeout");
}

// stop ends the process group started by spawn(..., {detached: true}): SIGTERM (Jupyter then shuts
// its kernels down), SIGKILL after 15 s.
async function stop(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once("exit", r));
  try { process.kill(-proc.pid, "SIGTERM"); } catch { return; }
  const t = setTimeout(() => { try { process.kill(-proc.pid, "SIGKILL"); } catch { /* gone */ } }, 15000);
  await exited;
  clearTimeout(t);
}

// inspect runs in the page: the state of every code cell and of the figures.
function inspect() {
  const cells = [...document.querySelectorAll("#notebook-container .cell.code_cell")].map((c, i) => {
    const prompt = (c.querySelector(".input_prompt")?.textContent || "").replace(/\s+/g, "");
    const src = (c.querySelector(".CodeMirror")?.CodeMirror?.getValue() || "").trim();
    const stderr = [...c.querySelectorAll(".output_stderr")].map((e) => e.textContent).join("");
    const errors = [...c.querySelectorAll(".output_error")].map((e) => e.textContent.trim().slice(0, 400));
    const shell = stderr.split("\n").filter((l) => /^(exit status -?\d+|signal: \S.*)$/.test(l.trim()));
    const imgs = [...c.querySelectorAll(".output_png img, .output_area img")];
    return {
      index: i,
      firstLine: src.split("\n").find((l) => l.trim() && l.trim() !== "%%") || "",
      empty: src === "",
      prompt,
      running: prompt.includes("[*]"),
      executed: /\[\d+\]/.test(prompt),
      errors,
      shellFailures: shell,
      images: imgs.length,
      imagesRendered: imgs.filter((im) => im.complete && im.naturalWidth > 0 && im.naturalHeight > 0).length,
      imageSizes: imgs.map((im) => `${im.naturalWidth}x${im.naturalHeight}`),
    };
  });
  const icon = document.querySelector("#kernel_indicator_icon");
  return {
    cells, title: document.title,
    kernelIdle: icon?.classList.contains("kernel_idle_icon") ?? false,
    kernelDead: icon?.classList.contains("kernel_dead_icon") ?? false,
  };
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const out = path.resolve(repo, opt.out);
  const rel = path.relative(repo, path.resolve(repo, opt.notebook));
  if (rel.startsWith("..")) throw new Error(`the notebook must be inside the repository: ${opt.notebook}`);
  const name = path.basename(rel, ".ipynb");
  const work = path.join(out, "work", rel);
  fs.mkdirSync(path.dirname(work), { recursive: true });
  fs.copyFileSync(path.join(repo, rel), work);
  const workRel = path.relative(repo, work);

  const deps = process.env.BROWSER_DEPS || path.join(repo, "_build/browser/deps");
  let chromium;
  try {
    ({ chromium } = createRequire(path.join(deps, "package.json"))("playwright-core"));
  } catch (e) {
    throw new Error(`playwright-core not found in ${deps}: run scripts/install-browser.sh (${e.message})`);
  }
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  if (!fs.existsSync(executablePath)) throw new Error(`no Chromium at ${executablePath}: run scripts/install-browser.sh`);

  const port = opt.port || (await freePort());
  const token = crypto.randomBytes(24).toString("hex");
  const base = `http://127.0.0.1:${port}`;
  const jlog = fs.openSync(path.join(out, "jupyter.log"), "w");
  log(`starting make lab on ${base} (NMFLOW_SCALE=${process.env.NMFLOW_SCALE || "<unset>"}), log in ${path.join(opt.out, "jupyter.log")}`);
  const lab = spawn(process.env.MAKE || "make", ["-s", "--no-print-directory", "lab", `PORT=${port}`], {
    cwd: repo, detached: true, stdio: ["ignore", jlog, jlog],
    env: { ...process.env, JUPYTER_TOKEN: token, MAKEFLAGS: "", MFLAGS: "" },
  });
  let browser;
  let result = { notebook: rel, ok: false };
  try {
    await waitForServer(base, token, lab, Date.now() + 300000);
    log(`Jupyter is up after ${((Date.now() - t0) / 1000).toFixed(1)}s; opening ${rel} (copy: ${workRel}) in ${executablePath}`);
    browser = await chromium.launch({ executablePath, headless: true, args: ["--disable-dev-shm-usage", "--disable-gpu"] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    const url = `${base}/notebooks/${workRel.split(path.sep).map(encodeURIComponent).join("/")}?token=${token}`;
    await page.goto(url, { waitUntil: "load" });
    await page.waitForFunction(() => window.Jupyter?.notebook?.kernel?.is_connected?.() && document.querySelector("#kernel_indicator_icon.kernel_idle_icon"),
      null, { timeout: 180000, polling: 500 });
    const tKernel = Date.now();
    log(`kernel ready after ${((tKernel - t0) / 1000).toFixed(1)}s; Cell → Run All`);
    await page.click("#celllink");
    await page.click("#run_all_cells > a");

    const deadline = Date.now() + opt.timeout * 1000;
    let state, idleSince = 0, lastReport = 0;
    for (;;) {
      await sleep(1000);
      state = await page.evaluate(inspect);
      const running = state.cells.filter((c) => c.running).length;
      const done = state.cells.filter((c) => c.executed && !c.running).length;
      const failed = state.cells.some((c) => c.errors.length || c.shellFailures.length);
      if (!running && state.kernelIdle) {
        idleSince ||= Date.now();
        if (Date.now() - idleSince > 3000) break; // settled: nothing queued, kernel idle
      } else {
        idleSince = 0;
      }
      if (Date.now() - lastReport > 30000) {
        lastReport = Date.now();
        log(`${done}/${state.cells.length} code cells done${failed ? " (an error is showing)" : ""}, ${((Date.now() - tKernel) / 1000).toFixed(0)}s`);
      }
      if (state.kernelDead) throw new Error("the kernel died while running the notebook (see jupyter.log)");
      if (Date.now() > deadline) throw new Error(`the notebook did not finish within ${opt.timeout}s`);
    }
    const runSeconds = (Date.now() - tKernel) / 1000;

    // Screenshot: the notebook scrolls inside #site, so grow the viewport to the notebook's height.
    const height = await page.evaluate(() => document.querySelector("#notebook-container").scrollHeight + 200);
    await page.setViewportSize({ width: 1280, height: Math.min(Math.max(height, 900), 30000) });
    await sleep(500);
    const shot = path.join(out, `${name}.png`);
    await page.screenshot({ path: shot, fullPage: true });

    const problems = [];
    const code = state.cells.filter((c) => !c.empty);
    for (const c of code) {
      if (!c.executed) problems.push(`code cell ${c.index} did not run (prompt ${c.prompt || "none"}): ${c.firstLine}`);
      for (const e of c.errors) problems.push(`code cell ${c.index} has an error output: ${e.split("\n").slice(0, 3).join(" | ")}`);
      if (!c.errors.length) for (const s of c.shellFailures) problems.push(`code cell ${c.index}: a shell line failed (${s}): ${c.firstLine}`);
    }
    const images = state.cells.reduce((n, c) => n + c.images, 0);
    const rendered = state.cells.reduce((n, c) => n + c.imagesRendered, 0);
    if (rendered < images) problems.push(`${images - rendered} of ${images} images did not render`);
    if (rendered < opt.minImages) problems.push(`${rendered} figures rendered as images, want at least ${opt.minImages}`);
    result = {
      notebook: rel, ok: problems.length === 0, problems, scale: process.env.NMFLOW_SCALE || "default",
      codeCells: code.length, executed: code.filter((c) => c.executed).length, images, imagesRendered: rendered,
      imageSizes: state.cells.flatMap((c) => c.imageSizes), pageErrors, screenshot: path.relative(repo, shot),
      runSeconds: Number(runSeconds.toFixed(1)), totalSeconds: Number(((Date.now() - t0) / 1000).toFixed(1)),
      chromium: browser.version(),
    };
  } catch (e) {
    result.problems = [String(e.message || e)];
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stop(lab);
    fs.closeSync(jlog);
  }
  result.totalSeconds ??= Number(((Date.now() - t0) / 1000).toFixed(1));
  fs.writeFileSync(path.join(out, `${name}.json`), JSON.stringify(result, null, 1) + "\n");
  if (!result.ok) {
    log(`FAIL ${rel} (${result.totalSeconds}s)`);
    for (const p of result.problems) log(`  ${p}`);
    log(`  details: ${path.join(opt.out, name + ".json")}, Jupyter's log: ${path.join(opt.out, "jupyter.log")}`);
    process.exitCode = 1;
    return;
  }
  log(`PASS ${rel}: ${result.executed}/${result.codeCells} code cells, ${result.imagesRendered} figures rendered, ` +
    `no errors; run ${result.runSeconds}s, total ${result.totalSeconds}s (Chromium ${result.chromium}); screenshot ${result.screenshot}`);
}

main().catch((e) => {
  console.error("browser-test: error:", e.message || e);
  process.exitCode = 1;
});
