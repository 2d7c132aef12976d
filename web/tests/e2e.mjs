// End-to-end test of the Fog web wallet, against a real local network:
//   1. starts `fogd local-network --base-port 0 --web 127.0.0.1:0` in a fresh directory;
//   2. checks alice's balance natively (fog-wallet, fresh state) for the reference;
//   3. loads the page in Debian's Chromium (headless, fresh profile), restores alice (demo
//      wallet) and bob (typed mnemonic), checks both balances: alice's must equal the native
//      answer exactly;
//   4. alice pays bob 2.5 MOB from the page and waits until it lands: alice's MOB balance
//      must drop by exactly value + fee, bob's must grow by exactly value, and fog-wallet must
//      agree with the page about bob.
// Needs FOGD and FOG_WALLET (paths of the binaries; scripts/web.sh test sets them) and
// /usr/bin/chromium (or CHROMIUM). Fails loudly when any is missing. Prints one JSON line of
// timings at the end.

import { spawn, execFile } from "node:child_process";
import { mkdtempSync, readFileSync, copyFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium } from "playwright-core";

const run = promisify(execFile);
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const FOGD = process.env.FOGD;
const FOG_WALLET = process.env.FOG_WALLET;
const PAY = "2500000000000"; // 2.5 MOB
const MOB_MINIMUM_FEE = 400000000n;
const RUNS = 5; // further fresh balance checks, each side, for the timings
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function fail(msg) {
  throw new Error(`web e2e: ${msg}`);
}
function check(cond, msg) {
  if (!cond) fail(msg);
}

for (const [name, path] of [["FOGD", FOGD], ["FOG_WALLET", FOG_WALLET], ["CHROMIUM", CHROMIUM]]) {
  if (!path) fail(`${name} is not set (scripts/web.sh test sets it)`);
  if (!existsSync(path)) fail(`${name}=${path} does not exist`);
}

const work = mkdtempSync(join(tmpdir(), "fog-web-e2e-"));
const netDir = join(work, "net");
let fogd = null;
let context = null;

// Starts the network; resolves with the page's URL once it is printed.
function startNetwork() {
  return new Promise((resolve, reject) => {
    fogd = spawn(FOGD, ["local-network", "--dir", netDir, "--base-port", "0", "--web", "127.0.0.1:0"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`the network did not start in 300 s:\n${out}\n${err}`)), 300_000);
    fogd.stdout.on("data", (d) => {
      out += d;
      const m = /Web wallet: (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    fogd.stderr.on("data", (d) => { err += d; });
    fogd.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`fogd local-network exited with ${code}:\n${out}\n${err}`));
    });
  });
}

// fog-wallet balance --json on a wallet file; returns {json, seconds, wallSeconds}.
async function nativeBalance(walletPath, rescan) {
  const args = ["--wallet", walletPath, "balance", "--json"];
  if (rescan) args.push("--rescan");
  const t0 = process.hrtime.bigint();
  const { stdout, stderr } = await run(FOG_WALLET, args, { timeout: 180_000 });
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = /synced to block count \d+ in ([\d.]+) s/.exec(stderr);
  return { json: JSON.parse(stdout), seconds: m ? Number(m[1]) : null, wallSeconds };
}

// The page's balance table: {blockCount, balances: {tokenId: value string}}.
async function pageBalance(page) {
  return page.evaluate(() => {
    const t = document.getElementById("balance");
    const balances = {};
    for (const tr of t.querySelectorAll("tbody tr")) balances[tr.dataset.token] = tr.dataset.value;
    return { blockCount: Number(t.dataset.blockCount), balances };
  });
}

async function checkBalance(page, previousBlockCount) {
  await page.evaluate(() => document.getElementById("balance").removeAttribute("data-block-count"));
  await page.click("#check-balance");
  await page.waitForFunction(
    () => document.getElementById("balance").dataset.blockCount || document.getElementById("error").textContent,
    null,
    { timeout: 180_000 },
  );
  const error = await page.textContent("#error");
  check(!error, `the page reports an error: ${error}`);
  const b = await pageBalance(page);
  check(previousBlockCount === undefined || b.blockCount >= previousBlockCount, "the block count went back");
  return b;
}

function sameBalances(pageB, nativeJson, who) {
  const native = Object.fromEntries(Object.entries(nativeJson.balances).map(([k, v]) => [k, String(v)]));
  for (const token of new Set([...Object.keys(native), ...Object.keys(pageB.balances)])) {
    const a = pageB.balances[token] ?? "0";
    const b = native[token] ?? "0";
    check(a === b, `${who}: token ${token} is ${a} in the page but ${b} in fog-wallet`);
  }
}

const started = Date.now();
try {
  const url = await startNetwork();
  console.log(`network up, page at ${url}`);

  // The native reference for alice, from a copy of her wallet file with a fresh state.
  const aliceCopy = join(work, "alice-native.json");
  copyFileSync(join(netDir, "wallets", "alice.json"), aliceCopy);
  const nativeAlice = await nativeBalance(aliceCopy, true);
  console.log(`native fresh balance (fog-wallet): ${JSON.stringify(nativeAlice.json)} in ${nativeAlice.seconds} s (process ${nativeAlice.wallSeconds.toFixed(2)} s)`);
  const nativeRuns = [];
  for (let i = 0; i < RUNS; i++) nativeRuns.push((await nativeBalance(aliceCopy, true)).seconds * 1000);

  const profile = join(work, "chromium-profile");
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const consoleLines = [];
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (m) => consoleLines.push(`alice page: ${m.text()}`));
  page.on("pageerror", (e) => consoleLines.push(`alice page error: ${e.message}`));
  const pageAnswer = await page.goto(url);
  const csp = pageAnswer.headers()["content-security-policy"] ?? "";
  check(csp.includes("connect-src 'self' http://127.0.0.1:"), `the page has no content security policy naming the services: ${csp}`);
  await page.waitForFunction(() => document.body.dataset.ready === "true" || document.getElementById("error").textContent, null, { timeout: 60_000 });
  check(!(await page.textContent("#error")), `the page did not load: ${await page.textContent("#error")}`);

  // Alice, from the demo list.
  await page.selectOption("#demo-select", "alice");
  await page.click("#use-demo");
  const aliceBefore = await checkBalance(page);
  const browserMs = Number(await page.textContent("#balance-time-ms"));
  console.log(`browser fresh balance: ${JSON.stringify(aliceBefore)} in ${browserMs} ms`);
  sameBalances(aliceBefore, nativeAlice.json, "alice");
  // More fresh checks (a new Wallet each time: new keys, new attested sessions, empty state).
  const browserRuns = [];
  for (let i = 0; i < RUNS; i++) {
    await page.click("#use-demo");
    const again = await checkBalance(page);
    sameBalances(again, nativeAlice.json, "alice (again)");
    browserRuns.push(Number(await page.textContent("#balance-time-ms")));
  }
  check(aliceBefore.blockCount === nativeAlice.json.block_count,
    `alice: block count ${aliceBefore.blockCount} in the page, ${nativeAlice.json.block_count} natively (the network is quiet)`);
  check(BigInt(aliceBefore.balances["0"] ?? "0") > BigInt(PAY) + MOB_MINIMUM_FEE, "alice has too little MOB to pay");

  // Bob, restored from his mnemonic typed into the page.
  const bobFile = JSON.parse(readFileSync(join(netDir, "wallets", "bob.json"), "utf8"));
  const bobPage = await context.newPage();
  bobPage.on("pageerror", (e) => consoleLines.push(`bob page error: ${e.message}`));
  await bobPage.goto(url);
  await bobPage.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 60_000 });
  // Bad input: a clear error, and no wallet.
  await bobPage.fill("#mnemonic", "not a mnemonic at all");
  await bobPage.click("#restore");
  check((await bobPage.textContent("#error")).includes("mnemonic"), "a bad mnemonic gives no error");
  check(await bobPage.isHidden("#wallet-section"), "a bad mnemonic opened a wallet");
  await bobPage.fill("#mnemonic", bobFile.mnemonic);
  await bobPage.fill("#account-index", String(bobFile.account_index));
  await bobPage.click("#restore");
  const bobAddress = (await bobPage.textContent("#address")).trim();
  check(bobAddress.length > 50, "bob's address is not shown");
  const bobBefore = await checkBalance(bobPage);
  console.log(`bob before: ${JSON.stringify(bobBefore)}`);

  // Alice pays bob from the page (after a refused amount and a refused address).
  await page.fill("#send-to", bobAddress);
  await page.fill("#send-amount", "2.5.0");
  await page.click("#send");
  check((await page.textContent("#error")).includes("amount"), "a bad amount gives no error");
  await page.fill("#send-to", "nonsense");
  await page.fill("#send-amount", "2.5");
  await page.click("#send");
  await page.waitForFunction(() => document.getElementById("error").textContent.includes("address"), null, { timeout: 10_000 });
  await page.fill("#send-to", bobAddress);
  await page.fill("#send-amount", "2.5");
  const sendStarted = Date.now();
  await page.click("#send");
  await page.waitForFunction(
    () => document.getElementById("send-result").dataset.fee || document.getElementById("error").textContent,
    null,
    { timeout: 240_000 },
  );
  check(!(await page.textContent("#error")), `the send failed: ${await page.textContent("#error")}`);
  const sendSeconds = (Date.now() - sendStarted) / 1000;
  const sent = await page.evaluate(() => ({ ...document.getElementById("send-result").dataset }));
  const stages = await page.$$eval("#send-progress li", (lis) => lis.map((l) => l.textContent));
  console.log(`sent: ${JSON.stringify(sent)} in ${sendSeconds} s; progress: ${JSON.stringify(stages)}`);
  check(sent.value === PAY, `sent ${sent.value}, not ${PAY}`);
  check(BigInt(sent.fee) === MOB_MINIMUM_FEE, `fee ${sent.fee}, not MobileCoin's minimum ${MOB_MINIMUM_FEE}`);
  check(stages.some((s) => s.startsWith("landed in block")), "no 'landed' progress step");
  const aliceAfter = await pageBalance(page);
  const expectAlice = BigInt(aliceBefore.balances["0"]) - BigInt(PAY) - BigInt(sent.fee);
  check(BigInt(aliceAfter.balances["0"]) === expectAlice,
    `alice after: ${aliceAfter.balances["0"]}, expected ${expectAlice} (before - value - fee)`);
  for (const [token, v] of Object.entries(aliceBefore.balances)) {
    if (token !== "0") check(aliceAfter.balances[token] === v, `alice's token ${token} changed`);
  }
  check(aliceAfter.blockCount > aliceBefore.blockCount, "alice's block count did not move");
  const historyKinds = await page.$$eval("#history tbody tr", (trs) => trs.map((t) => t.dataset.kind));
  check(historyKinds.includes("spent"), "alice's history shows no spent TxOut");

  // Bob sees it land: exactly value more MOB (checked until his block count passes the payment's block).
  const paidBlock = Number(sent.blockIndex);
  let bobAfter = null;
  for (let i = 0; i < 60; i++) {
    bobAfter = await checkBalance(bobPage, bobBefore.blockCount);
    if (bobAfter.blockCount > paidBlock) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  check(bobAfter.blockCount > paidBlock, `bob's balance never covered block ${paidBlock}`);
  const expectBob = BigInt(bobBefore.balances["0"] ?? "0") + BigInt(PAY);
  check(BigInt(bobAfter.balances["0"]) === expectBob, `bob after: ${bobAfter.balances["0"]}, expected ${expectBob}`);
  const bobHistory = await bobPage.$$eval("#history tbody tr", (trs) => trs.map((t) => [t.dataset.kind, t.dataset.value]));
  check(bobHistory.some(([k, v]) => k === "received" && v === PAY), "bob's history does not show the 2.5 MOB received");

  // fog-wallet agrees with the page about bob.
  const nativeBob = await nativeBalance(join(netDir, "wallets", "bob.json"), false);
  if (nativeBob.json.block_count === bobAfter.blockCount) sameBalances(bobAfter, nativeBob.json, "bob");
  else check(String(nativeBob.json.balances["0"]) === bobAfter.balances["0"], "bob: fog-wallet and the page disagree");

  const stats = await page.evaluate(() => document.getElementById("round-trips").textContent);
  for (const l of consoleLines) console.log(l);
  console.log(JSON.stringify({
    result: "ok",
    native_fresh_balance_s: nativeAlice.seconds,
    native_fresh_balance_process_s: Number(nativeAlice.wallSeconds.toFixed(3)),
    browser_fresh_balance_ms: browserMs,
    browser_fresh_balance_ms_runs: browserRuns,
    browser_fresh_balance_ms_median: median(browserRuns),
    native_fresh_balance_ms_runs: nativeRuns,
    native_fresh_balance_ms_median: median(nativeRuns),
    send_to_landed_s: sendSeconds,
    alice_round_trips: Number(stats),
    total_s: (Date.now() - started) / 1000,
  }));
} finally {
  if (context) await context.close().catch(() => {});
  if (fogd && fogd.exitCode === null) {
    fogd.kill("SIGTERM");
    await new Promise((r) => { fogd.once("exit", r); setTimeout(r, 20_000); });
  }
  rmSync(work, { recursive: true, force: true });
}
