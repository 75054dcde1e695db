// The little of a browser that the dashboard's script (services/feedback/static/dashboard.js) uses,
// for running it in V8 without one: elements that keep their text, class, data attributes and
// children; the address (PAGE_HASH), the tab's sessionStorage and history.replaceState; `fetch` answering
// with the JSON the test put in DASHBOARD_JSON (each request kept with its X-Api-Key); a uPlot that keeps the
// data it is given; timers that are recorded, not run. `shown()` returns what the page shows
// under each data-testid, as the test reads it.
"use strict";
const created = [];

class Element {
  constructor(tag, testid) {
    this.tagName = tag; this.textContent = ""; this.className = ""; this.children = [];
    this.style = {}; this.dataset = testid ? { testid } : {}; this.colSpan = 1; this.clientWidth = 800;
    created.push(this);
  }
  replaceChildren(...kids) { this.children = kids; if (!kids.length) this.textContent = ""; }
  appendChild(kid) { this.children.push(kid); return kid; }
  append(...kids) { kids.forEach((k) => this.appendChild(k)); }
  insertRow() { return this.appendChild(new Element("tr")); }
  insertCell() { return this.appendChild(new Element("td")); }
}

const byId = {};
const byTestid = {};
globalThis.document = {
  body: new Element("body"),
  getElementById: (id) => (byId[id] = byId[id] || new Element("div")),
  createElement: (tag) => new Element(tag),
  querySelector: (selector) => {
    const m = /^\[data-testid="([^"]+)"\]$/.exec(selector);
    if (!m) throw new Error(`selector not supported here: ${selector}`);
    return (byTestid[m[1]] = byTestid[m[1]] || new Element("span", m[1]));
  },
};

// the page opened at /dashboard<PAGE_HASH>; the tab's storage; the address bar after history.replaceState
globalThis.location = { pathname: "/dashboard", hash: PAGE_HASH };
globalThis.address = location.pathname + location.hash;
const stored = {};
globalThis.sessionStorage = {
  getItem: (k) => (k in stored ? stored[k] : null),
  setItem: (k, v) => { stored[k] = String(v); },
  removeItem: (k) => { delete stored[k]; },
};
globalThis.history = { replaceState: (state, title, url) => { address = url; location.hash = ""; } };

globalThis.requests = [];
globalThis.fetch = (url, options) => {
  requests.push([url, ((options || {}).headers || {})["X-Api-Key"] || null]);
  return Promise.resolve({ ok: true, status: 200, json: () => Promise.resolve(JSON.parse(DASHBOARD_JSON)) });
};
globalThis.timers = [];
globalThis.setTimeout = (fn, ms) => { timers.push(ms); return timers.length; };

globalThis.plots = [];
globalThis.uPlot = function (options, data, el) {
  this.data = data;
  this.setData = (d) => { this.data = d; };
  plots.push(this);
};

globalThis.shown = () => {
  const out = {};
  created.forEach((e) => { if (e.dataset.testid) out[e.dataset.testid] = e.textContent; });
  return JSON.stringify({ shown: out, loaded: document.body.dataset.loaded === "true", requests, timers,
                          status: (byId.status || {}).textContent, plots: plots.map((p) => p.data),
                          address, kept_key: sessionStorage.getItem("moksori-dashboard-key") });
};
