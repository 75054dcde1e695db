// 목소리 운영 대시보드: polls /v1/dashboard every 5 s and redraws. No network beyond this service.
"use strict";
const POLL_MS = 5000;
let names = {};
let trendPlot = null;

const fmt = (v) => (v === null || v === undefined ? "-" : typeof v === "number" ? v.toLocaleString("ko-KR") : String(v));
const ko = (a) => (a ? names[a] || a : "그룹");

function table(id, headers, rows, numeric = []) {
  const el = document.getElementById(id);
  el.replaceChildren();
  const head = el.insertRow();
  headers.forEach((h) => { const th = document.createElement("th"); th.textContent = h; head.appendChild(th); });
  if (!rows.length) {
    const td = el.insertRow().insertCell();
    td.colSpan = headers.length; td.textContent = "없음"; td.className = "empty";
    return;
  }
  rows.forEach((r) => {
    const tr = el.insertRow();
    r.cells.forEach((c, i) => {
      const td = tr.insertCell();
      td.textContent = fmt(c);
      if (numeric.includes(i)) td.className = "n";
    });
    if (r.testid) tr.dataset.testid = r.testid;
    if (r.cls) tr.className = r.cls;
  });
}

function bars(id, items) {
  // items: [{label, value, last?, testid}]; one bar (and a paler last-year bar when given) per item
  const el = document.getElementById(id);
  el.replaceChildren();
  const max = Math.max(1, ...items.flatMap((i) => [i.value || 0, i.last || 0]));
  if (!items.length) { el.textContent = "없음"; el.className = "bars empty"; return; }
  el.className = "bars";
  items.forEach((i) => {
    for (const [value, cls, label] of [[i.value, "bar", i.label], ...(i.last !== undefined ? [[i.last, "bar last", "전년"]] : [])]) {
      const row = document.createElement("div");
      row.className = "row";
      const name = document.createElement("span"); name.textContent = label;
      const bar = document.createElement("div"); bar.className = cls; bar.style.width = `${(100 * (value || 0)) / max}%`;
      const num = document.createElement("span"); num.className = "n"; num.textContent = fmt(value);
      if (cls === "bar") num.dataset.testid = i.testid;
      row.append(name, bar, num);
      el.appendChild(row);
    }
  });
}

function trend(points) {
  const el = document.getElementById("trend-chart");
  const days = points.map((p) => Date.parse(p.day + "T00:00:00+09:00") / 1000);
  const data = [days, points.map((p) => p.csat), points.map((p) => p.ces), points.map((p) => p.nps)];
  if (trendPlot) { trendPlot.setData(data); return; }
  trendPlot = new uPlot({
    width: Math.max(360, el.clientWidth || 480), height: 220,
    series: [{}, { label: "CSAT (1-5)", stroke: "#3d6fd8", scale: "score", spanGaps: true, points: { size: 6 } },
             { label: "CES (1-7)", stroke: "#e08a1e", scale: "score", spanGaps: true, points: { size: 6 } },
             { label: "NPS", stroke: "#2e9e5b", scale: "nps", spanGaps: true, points: { size: 6 } }],
    axes: [{}, { scale: "score" }, { scale: "nps", side: 1, grid: { show: false } }],
    scales: { x: { time: true }, score: { range: [0, 7] }, nps: { range: [-100, 100] } },
  }, data, el);
}

function render(d) {
  names = d.affiliate_names || {};
  const byAffiliate = {};
  d.volume_today.forEach((v) => { byAffiliate[v.affiliate] = (byAffiliate[v.affiliate] || 0) + v.cases; });
  const total = Object.values(byAffiliate).reduce((a, b) => a + b, 0);
  document.querySelector('[data-testid="today-total"]').textContent = fmt(total);
  document.querySelector('[data-testid="critical-alerts"]').textContent = fmt(d.alerts.filter((a) => a.severity === "critical").length);
  document.querySelector('[data-testid="breaches-total"]').textContent = fmt(d.sla_breaches_today.reduce((a, b) => a + b.cases, 0));
  const rated = d.ratings_trend.filter((p) => p.nps !== null);
  document.querySelector('[data-testid="nps-latest"]').textContent = rated.length ? fmt(rated[rated.length - 1].nps) : "-";
  bars("volume-bars", Object.entries(byAffiliate).map(([a, n]) => ({ label: ko(a), value: n, testid: `volume-${a}` })));
  table("volume-table", ["계열사", "유형", "건수"], d.volume_today.map((v) => ({ cells: [ko(v.affiliate), v.topic, v.cases] })), [2]);
  table("alerts-table", ["시각", "계열사", "사유", "내용", "통화"], d.alerts.map((a) => ({
    cells: [a.at.slice(11, 19), ko(a.affiliate), a.reason, a.message, a.call_id || ""], cls: `sev-${a.severity}` })));
  table("breaches-table", ["계열사", "건수"], d.sla_breaches_today.map((b) => ({ cells: [ko(b.affiliate), b.cases] })), [1]);
  table("waiting-table", ["계열사", "팀", "가장 오래된 접수", "대기 건수"], d.oldest_unacknowledged.map((w) => ({
    cells: [ko(w.affiliate), w.team, w.oldest.slice(5, 16).replace("T", " "), w.waiting] })), [3]);
  trend(d.ratings_trend);
  document.getElementById("converted-title").textContent = `환산건수 (${d.converted.period}, 10만 명당) 전년 동기 대비`;
  bars("converted-bars", d.converted.affiliates.map((a) => ({
    label: ko(a.affiliate), value: a.own_per_100k, last: a.own_last_year, testid: `converted-${a.affiliate}` })));
}

// The numbers need a dashboard key (DASHBOARD_KEYS). It comes in the address's fragment, which the browser
// never sends (…/dashboard#key=…), is kept for this tab only, and the fragment is cleared from the address bar.
function dashboardKey() {
  const m = /(?:^#|&)key=([^&]+)/.exec(location.hash || "");
  if (m) {
    sessionStorage.setItem("moksori-dashboard-key", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem("moksori-dashboard-key");
}

async function poll() {
  const status = document.getElementById("status");
  try {
    const key = dashboardKey();
    if (!key) throw new Error("대시보드 키가 없습니다. 주소 끝에 #key=<DASHBOARD_KEYS의 키>를 붙여 여세요");
    const r = await fetch("/v1/dashboard", { cache: "no-store", headers: { "X-Api-Key": key } });
    if (r.status === 401) {
      sessionStorage.removeItem("moksori-dashboard-key");
      throw new Error("대시보드 키가 맞지 않습니다. 주소 끝에 #key=<DASHBOARD_KEYS의 키>를 붙여 다시 여세요");
    }
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const d = await r.json();
    render(d);
    status.textContent = `갱신 ${d.generated_at.slice(11, 19)} (5초마다)`;
    status.className = "status";
    document.body.dataset.loaded = "true";
  } catch (e) {
    status.textContent = `갱신 실패: ${e.message} — 다시 시도 중`;
    status.className = "status stale";
  }
  setTimeout(poll, POLL_MS);
}

poll();
