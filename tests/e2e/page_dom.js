// The little of a browser that the pages' scripts (feedback's dashboard.js, intake's status.js) use, for
// running them in V8 without one: elements that keep their text, class, data attributes and children; the
// address (PAGE_PATH, PAGE_HASH), the tab's sessionStorage and history.replaceState; `fetch` answering with
// the JSON the test put in PAGE_JSON (each request kept with its X-Api-Key or X-Case-Secret); a uPlot that
// keeps the data it is given; timers that are recorded, not run. `shown()` returns what the page shows
// under each data-testid and each element id, as the test reads it.
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
  append(...kids) { kids.forEach((k) => this.appendChild(typeof k === "string" ? { textContent: k } : k)); }
  // everything shown inside: its own text, then its children's
  get text() { return [this.textContent, ...this.children.map((k) => (k.text !== undefined ? k.text : k.textContent))].join(""); }
  insertRow() { return this.appendChild(new Element("tr")); }
  insertCell() { return this.appendChild(new Element("td")); }
}

const byId = {};
const byTestid = {};
globalThis.document = {
  body: new Element("body"),
  getElementById: (id) => (byId[id] = byId[id] || new Element("div")),
  createElement: (tag) => new Element(tag),
  createTextNode: (text) => ({ textContent: text }),
  querySelector: (selector) => {
    const m = /^\[data-testid="([^"]+)"\]$/.exec(selector);
    if (!m) throw new Error(`selector not supported here: ${selector}`);
    return (byTestid[m[1]] = byTestid[m[1]] || new Element("span", m[1]));
  },
};

// the page opened at PAGE_PATH + PAGE_HASH; the tab's storage; the address bar after history.replaceState
globalThis.location = { pathname: PAGE_PATH, hash: PAGE_HASH };
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
  const headers = (options || {}).headers || {};
  requests.push([url, headers["X-Api-Key"] || headers["X-Case-Secret"] || null]);
  return Promise.resolve({ ok: true, status: 200, json: () => Promise.resolve(JSON.parse(PAGE_JSON)) });
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
  const ids = {};
  Object.entries(byId).forEach(([id, e]) => { ids[id] = e.text; });
  return JSON.stringify({ shown: out, loaded: document.body.dataset.loaded === "true", requests, timers,
                          status: (byId.status || {}).textContent, plots: plots.map((p) => p.data),
                          address, kept_key: sessionStorage.getItem("moksori-dashboard-key"), ids,
                          links: created.filter((e) => e.tagName === "a").map((e) => [e.textContent, e.href]) });
};
