// TallyIO dashboard: plain JS, no build step, no CDN. The key comes from the URL fragment
// (#key=...) or the form, is kept in sessionStorage only, and goes out as a Bearer header
// (and as ?key= on the WebSocket, which cannot carry headers).
"use strict";

const $ = (sel) => document.querySelector(sel);
const MAX_ROWS = 50;
let key = "";
let socket = null;
const trades = new Map(); // plan_id -> row element

function takeKey() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("key")) {
    sessionStorage.setItem("tallyio-key", fragment.get("key"));
    history.replaceState(null, "", location.pathname); // out of the address bar and history
  }
  return sessionStorage.getItem("tallyio-key") || "";
}

async function api(path) {
  const reply = await fetch(path, { headers: { Authorization: `Bearer ${key}` } });
  if (!reply.ok) throw new Error(`${path}: HTTP ${reply.status}`);
  return reply.json();
}

function showError(err) { $("#error").textContent = err ? String(err.message || err) : ""; }

function grouped(text) { // exact integer strings, grouped for reading; never through floats
  if (text === null || text === undefined) return "–";
  const [sign, digits] = text.startsWith("-") ? ["-", text.slice(1)] : ["", text];
  return sign + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

function clock(seconds) { return new Date(seconds * 1000).toLocaleTimeString(); }

function row(cells, cls) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    td.textContent = cell === null || cell === undefined ? "–" : String(cell);
    tr.appendChild(td);
  }
  if (cls) tr.className = cls;
  return tr;
}

function prepend(tbody, tr) {
  tbody.insertBefore(tr, tbody.firstChild);
  while (tbody.children.length > MAX_ROWS) tbody.removeChild(tbody.lastChild);
}

function tradeRow(t, fresh) {
  const tr = row([clock(t.recorded_at), t.strategy, t.mode, t.status, t.block ?? t.target_block,
    grouped(t.profit), grouped(t.net_profit), (t.tx_hash || t.plan_id).slice(0, 18)],
    fresh ? "fresh" : "");
  tr.dataset.plan = t.plan_id;
  tr.children[3].className = ["included", "simulated"].includes(t.status) ? "ok"
    : ["reverted", "failed", "rejected"].includes(t.status) ? "bad" : "warn";
  return tr;
}

function showTrade(t, fresh) {
  const tbody = $("#trades tbody");
  const tr = tradeRow(t, fresh);
  const old = trades.get(t.plan_id);
  if (old && old.parentNode) old.replaceWith(tr); else prepend(tbody, tr);
  trades.set(t.plan_id, tr);
}

function showOpportunity(o, fresh) {
  const tr = row([clock(o.recorded_at), o.strategy, o.block, grouped(o.expected_profit),
    o.status, o.reason], fresh ? "fresh" : "");
  tr.dataset.plan = o.plan_id;
  prepend($("#opportunities tbody"), tr);
}

function showDecision(d) {
  for (const tr of document.querySelectorAll(`#opportunities tr[data-plan="${CSS.escape(d.plan_id)}"]`)) {
    tr.children[4].textContent = d.approved ? `approved (${d.stage})` : `rejected (${d.stage})`;
    tr.children[5].textContent = d.reason || "";
  }
}

function showStatus(s) {
  $("#mode").textContent = `${s.mode}${s.running ? " · running" : ""}${s.read_only ? " · read-only" : ""}`;
  const tbody = $("#chains tbody");
  tbody.replaceChildren();
  for (const c of s.chains || []) showChain(c);
}

function showChain(c) {
  const tbody = $("#chains tbody");
  let tr = [...tbody.children].find((r) => r.dataset.chain === c.chain);
  const fresh = row([c.chain, c.head, c.lag_seconds,
    c.healthy === null || c.healthy === undefined ? "unknown" : c.healthy ? "healthy" : "lagging"]);
  fresh.dataset.chain = c.chain;
  fresh.children[3].className = c.healthy ? "ok" : c.healthy === false ? "bad" : "warn";
  if (tr) tr.replaceWith(fresh); else tbody.appendChild(fresh);
}

function showRisk(r) {
  const box = $("#risk");
  box.replaceChildren();
  const breakers = r.breakers || [];
  const line = (text, cls) => {
    const p = document.createElement("div");
    p.textContent = text;
    if (cls) p.className = cls;
    box.appendChild(p);
  };
  if (!breakers.some((b) => b.tripped)) line("no breaker tripped", "ok");
  for (const b of breakers) {
    line(`${b.scope}: ${b.tripped ? "TRIPPED" : "armed"}${b.reason ? " – " + b.reason : ""}`,
      b.tripped ? "bad" : "ok");
  }
  const limits = Object.entries(r.limits || {});
  line(limits.length ? `${limits.length} limit groups` : "no limits reported");
  if (r.note) line(r.note, "warn");
}

function showStrategies(list) {
  $("#strategies tbody").replaceChildren(...list.map((s) => {
    const tr = row([s.name, s.kind, s.enabled ? "enabled" : "disabled"]);
    tr.children[2].className = s.enabled ? "ok" : "warn";
    return tr;
  }));
}

function showBalances(list) {
  $("#balances tbody").replaceChildren(...list.map((b) => row([b.symbol, grouped(b.amount)])));
}

function showPnl(groups) {
  const tbody = $("#pnl-table tbody");
  tbody.replaceChildren(...groups.map((g) =>
    row([g.group, g.trades, grouped(g.profit), grouped(g.net_profit)])));
  drawBars($("#pnl"), groups.map((g) => [g.group, Number(g.net_profit)])); // floats: display only
}

function svg(tag, attrs, text) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function drawBars(target, bars) {
  target.replaceChildren();
  if (!bars.length) { target.appendChild(svg("text", { x: 20, y: 110 }, "no trades yet")); return; }
  const top = Math.max(...bars.map(([, v]) => Math.abs(v)), 1);
  const width = 560 / bars.length;
  const zero = 110;
  target.appendChild(svg("line", { x1: 20, x2: 580, y1: zero, y2: zero, stroke: "#4a5868" }));
  bars.forEach(([name, value], i) => {
    const h = Math.round((Math.abs(value) / top) * 85);
    const x = 20 + i * width + width * 0.15;
    target.appendChild(svg("rect", { x, width: width * 0.7, y: value >= 0 ? zero - h : zero,
      height: Math.max(h, 1), fill: value >= 0 ? "#55d38a" : "#ff6b6b" }));
    target.appendChild(svg("text", { x: x, y: 212 }, name));
    target.appendChild(svg("text", { x: x, y: value >= 0 ? zero - h - 4 : zero + h + 14 },
      value.toLocaleString()));
  });
}

async function refresh() {
  const [status, risk, pnl, strategies, balances] = await Promise.all([api("/status"),
    api("/risk"), api("/pnl?by=strategy"), api("/strategies"), api("/balances")]);
  showStatus(status); showRisk(risk); showPnl(pnl); showStrategies(strategies);
  showBalances(balances);
}

async function load() {
  await refresh();
  const [ts, os] = await Promise.all([api("/trades?limit=50"), api("/opportunities?limit=50")]);
  $("#trades tbody").replaceChildren(); trades.clear();
  for (const t of ts.reverse()) showTrade(t, false);
  $("#opportunities tbody").replaceChildren();
  for (const o of os.reverse()) showOpportunity(o, false);
}

let pnlTimer = null;
let balanceTimer = null;
function onEvent(event) {
  const d = event.data;
  if (event.type === "trade") {
    showTrade(d, true);
    clearTimeout(pnlTimer);
    pnlTimer = setTimeout(() => api("/pnl?by=strategy").then(showPnl).catch(showError), 200);
  } else if (event.type === "opportunity") showOpportunity(d, true);
  else if (event.type === "decision") showDecision(d);
  else if (event.type === "block") {
    showChain(d);
    clearTimeout(balanceTimer); // the engine reads balances on each new head, then says so
    balanceTimer = setTimeout(() => api("/balances").then(showBalances).catch(showError), 200);
  }
  else if (event.type === "hello") showStatus(d.status);
}

function connect() {
  if (socket) socket.close();
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/events?key=${encodeURIComponent(key)}`);
  socket.onopen = () => { $("#feed").textContent = "feed: live"; $("#feed").className = "pill ok"; };
  socket.onmessage = (m) => onEvent(JSON.parse(m.data));
  socket.onclose = () => {
    $("#feed").textContent = "feed: off"; $("#feed").className = "pill bad";
    setTimeout(() => { if (key) connect(); }, 3000);
  };
}

async function start() {
  showError(null);
  try {
    await load();
    connect();
    document.body.dataset.ready = "1"; // for the browser test: data loaded, feed opening
  } catch (err) { showError(err); }
}

$("#login").addEventListener("submit", (e) => {
  e.preventDefault();
  key = $("#key").value.trim();
  sessionStorage.setItem("tallyio-key", key);
  $("#key").value = "";
  start();
});
setInterval(() => { if (key) refresh().catch(showError); }, 5000);
key = takeKey();
if (key) start();
