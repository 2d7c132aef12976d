// The Fog web wallet page: plain JavaScript over the wasm client (pkg/fog_web.js, built by
// scripts/web.sh build). Everything that touches keys, sessions and the ledger happens in
// the wasm; this file only draws.

import init, { Wallet } from "./pkg/fog_web.js";

const $ = (id) => document.getElementById(id);
const PICO = 1_000_000_000_000n;

let networkJson = null;   // the text of /local-network.json
let demoWallets = [];     // [{name, mnemonic, account_index}]
let wallet = null;        // the Wallet in use

function showError(e) {
  $("error").textContent = e ? String(e.message ?? e) : "";
}

function setBusy(busy) {
  for (const id of ["restore", "use-demo", "check-balance", "send"]) {
    $(id).disabled = busy;
  }
}

// picoMOB (decimal string) → "12.3456 MOB".
function formatMob(pico) {
  const v = BigInt(pico);
  const whole = v / PICO;
  let frac = (v % PICO).toString().padStart(12, "0").replace(/0+$/, "");
  return frac ? `${whole}.${frac} MOB` : `${whole} MOB`;
}

// "1.5" → "1500000000000" (exact: no floating point); throws on anything else.
function parseMob(text) {
  const t = text.trim();
  const m = /^(\d+)(?:\.(\d{1,12}))?$/.exec(t);
  if (!m) throw new Error(`the amount "${t}" is not a number of MOB with at most 12 decimals`);
  const value = BigInt(m[1]) * PICO + BigInt((m[2] ?? "").padEnd(12, "0") || "0");
  if (value === 0n) throw new Error("the amount is zero");
  return value.toString();
}

function formatAmount(tokenId, value) {
  return tokenId === 0 ? formatMob(value) : `${value} of token ${tokenId}`;
}

function drawBalance(b, ms) {
  const body = $("balance").querySelector("tbody");
  body.replaceChildren();
  const rows = b.balances.length ? b.balances : [{ tokenId: 0, value: "0" }];
  for (const { tokenId, value } of rows) {
    const tr = document.createElement("tr");
    tr.dataset.token = String(tokenId);
    tr.dataset.value = value;
    for (const [text, cls] of [[tokenId === 0 ? "MOB" : `token ${tokenId}`], [formatAmount(tokenId, value)], [value, "num"]]) {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.append(td);
    }
    body.append(tr);
  }
  $("block-count").textContent = String(b.blockCount);
  $("balance").dataset.blockCount = String(b.blockCount);
  if (ms !== undefined) $("balance-time-ms").textContent = ms.toFixed(0);
  $("round-trips").textContent = String(wallet.stats().roundTrips);
}

function drawHistory() {
  const body = $("history").querySelector("tbody");
  body.replaceChildren();
  for (const e of wallet.history()) {
    const tr = document.createElement("tr");
    tr.dataset.kind = e.kind;
    tr.dataset.value = e.value;
    const note = e.change
      ? (e.totalOutlay ? `change; paid ${formatMob(BigInt(e.totalOutlay) - BigInt(e.fee))} + fee ${formatMob(e.fee)}` : "change")
      : (e.sender ? `from ${e.sender}` : "");
    for (const text of [String(e.blockIndex), e.kind, formatAmount(e.tokenId, e.value), note]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    body.append(tr);
  }
}

async function checkBalance() {
  showError("");
  setBusy(true);
  const started = performance.now();
  try {
    const b = await wallet.checkBalance((p) => {
      $("balance-progress").textContent =
        `view requests ${p.viewRequests}, records found ${p.recordsFound}, ` +
        `blocks scanned ${p.blocksScanned}, key images checked ${p.keyImagesChecked}, ` +
        `view at block ${p.viewBlockCount}`;
    });
    const ms = performance.now() - started;
    $("balance-progress").textContent = "";
    drawBalance(b, ms);
    drawHistory();
  } catch (e) {
    showError(e);
  } finally {
    setBusy(false);
  }
}

function restore(mnemonic, accountIndex, name) {
  showError("");
  try {
    wallet?.free();
    wallet = null;
    wallet = Wallet.restore(networkJson, mnemonic, accountIndex);
  } catch (e) {
    showError(e);
    return;
  }
  $("wallet-name").textContent = name ? `(${name})` : "";
  $("address").textContent = wallet.address();
  $("balance").querySelector("tbody").replaceChildren();
  $("balance").removeAttribute("data-block-count");
  $("block-count").textContent = "–";
  $("history").querySelector("tbody").replaceChildren();
  $("send-progress").replaceChildren();
  $("send-result").textContent = "";
  for (const id of ["wallet-section", "send-section", "history-section"]) $(id).hidden = false;
}

async function send() {
  showError("");
  let value;
  try {
    value = parseMob($("send-amount").value);
  } catch (e) {
    showError(e);
    return;
  }
  const list = $("send-progress");
  list.replaceChildren();
  $("send-result").textContent = "";
  delete $("send-result").dataset.fee;
  let last = null;
  const step = (text) => {
    if (last) last.className = "done";
    last = document.createElement("li");
    last.textContent = text;
    list.append(last);
  };
  setBusy(true);
  try {
    const r = await wallet.send($("send-to").value, value, (p) => {
      switch (p.stage) {
        case "building": step("building the payment (balance, inputs, rings, fog reports, signatures)"); break;
        case "submitting": step("submitting to the ledger node"); break;
        case "submitted": step(`submitted: transaction ${p.txHash.slice(0, 16)}…`); break;
        case "waiting": if (last) last.textContent = `waiting for it to land (ledger at block ${p.blockCount})`;
          else step("waiting for it to land"); break;
        case "landed": step(`landed in block ${p.blockIndex}`); break;
        default: break;
      }
      if (p.stage === "submitted") step("waiting for it to land");
    });
    if (last) last.className = "done";
    const res = $("send-result");
    res.textContent = `Sent ${formatMob(r.value)} (fee ${formatMob(r.fee)}), landed in block ${r.blockIndex}.`;
    res.dataset.value = r.value;
    res.dataset.fee = r.fee;
    res.dataset.blockIndex = String(r.blockIndex);
    drawBalance({ blockCount: r.blockCount, balances: r.balances });
    drawHistory();
  } catch (e) {
    showError(e);
  } finally {
    setBusy(false);
  }
}

async function main() {
  await init();
  const answer = await fetch("local-network.json", { cache: "no-store" });
  if (!answer.ok) throw new Error(`no network settings at local-network.json (HTTP ${answer.status})`);
  networkJson = await answer.text();
  const doc = JSON.parse(networkJson);
  demoWallets = doc.demo_wallets ?? [];
  const n = doc.network;
  $("network-status").textContent = `Network: node ${n.node_url}, view ${n.view_url}, fog ledger ${n.ledger_url}`;

  const select = $("demo-select");
  const contacts = $("send-contact");
  for (const w of demoWallets) {
    select.append(new Option(w.name, w.name));
    try {
      const address = Wallet.restore(networkJson, w.mnemonic, w.account_index);
      contacts.append(new Option(w.name, address.address()));
      address.free();
    } catch (e) {
      showError(e);
    }
  }
  $("demo-row").hidden = demoWallets.length === 0;

  $("use-demo").addEventListener("click", () => {
    const w = demoWallets.find((d) => d.name === select.value);
    if (w) restore(w.mnemonic, w.account_index, w.name);
  });
  $("restore").addEventListener("click", () => {
    const index = Number($("account-index").value);
    if (!Number.isInteger(index) || index < 0 || index > 0x7fffffff) {
      showError(new Error("the account index must be a whole number from 0 to 2147483647"));
      return;
    }
    restore($("mnemonic").value, index, "");
  });
  $("check-balance").addEventListener("click", checkBalance);
  $("send-contact").addEventListener("change", (ev) => {
    if (ev.target.value) $("send-to").value = ev.target.value;
  });
  $("send").addEventListener("click", send);
  document.body.dataset.ready = "true";
}

main().catch((e) => {
  $("network-status").textContent = "Not ready.";
  showError(e);
});
