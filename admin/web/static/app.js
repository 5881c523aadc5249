// licbridge status page: reads /api/v1/view and /api/v1/stats and draws one
// screen. No framework, no build step, nothing fetched from elsewhere.
"use strict";
(function () {
  const TOKEN = "licbridge-token";
  const SVGNS = "http://www.w3.org/2000/svg";

  // A token given once as #token=... goes to this tab's sessionStorage and
  // leaves the address bar at once (fragments are never sent to the server).
  if (location.hash.startsWith("#token=")) {
    sessionStorage.setItem(TOKEN, decodeURIComponent(location.hash.slice(7)));
    history.replaceState(null, "", location.pathname + location.search);
  }

  class AuthError extends Error {}
  class APIError extends Error {
    constructor(path, status, msg) { super(msg); this.path = path; this.status = status; }
  }

  async function get(path) {
    const headers = {};
    const tok = sessionStorage.getItem(TOKEN);
    if (tok) headers.Authorization = "Bearer " + tok;
    const r = await fetch(path, { headers: headers, cache: "no-store" });
    if (r.status === 401) throw new AuthError("token required");
    if (!r.ok) {
      let msg = String(r.status);
      try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
      throw new APIError(path, r.status, msg);
    }
    return r.json();
  }

  // el builds an element; attributes are set in the order given (id first,
  // so that tests can find values in the serialised DOM).
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const k of kids) e.append(k instanceof Node ? k : String(k));
    return e;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function num(id, v) { return el("span", { id: id, class: "num" }, v); }

  // Times in the browser's zone, to the second: an admin reads "14:03:12
  // CET", not an RFC 3339 instant with nanoseconds.
  const timeFmt = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
    hour12: false, timeZoneName: "short",
  });
  const dateFmt = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
  function localTime(s) { return s ? timeFmt.format(new Date(s)) : "-"; }
  function localDate(s) { return s ? dateFmt.format(new Date(s)) : "-"; }

  const PARTS = { ami: "AMI", ari: "ARI", store: "The shared store (Redis)", sipmon: "The SIP monitor" };

  // banners lists what is down on this node, worst first: a part down, the
  // store unreadable, channels admitted without the store, invalid key files.
  function banners(view) {
    const out = [];
    const ban = (id, cls, ...text) => out.push(el("p", { id: "banner-" + id, class: "banner " + cls, role: "alert" }, ...text));
    const st = view.store;
    const storeDown = "The shared store (Redis) is down" + (st && st.error ? ": " + st.error : "") +
      ". Admissions follow the outage policy; the figures are this node's own.";
    for (const c of view.health || []) {
      if (c.ok) continue;
      if (c.name === "store") ban("store", "bad", storeDown);
      else ban(c.name, "bad", (PARTS[c.name] || c.name) + " is down" + (c.detail ? ": " + c.detail : ""));
    }
    if (st && !st.available && !(view.health || []).some((c) => c.name === "store" && !c.ok)) {
      ban("store", "bad", storeDown);
    }
    const open = Object.entries((st && st.admitted_without_store) || {}).filter(([, n]) => n > 0).sort();
    if (open.length) {
      ban("failopen", "warn", "Fail-open: this node admitted channels without the store: ",
        ...open.flatMap(([p, n], i) => [(i ? ", " : ""), p + " ", num("failopen-" + p, n)]),
        ". They are written back when it answers.");
    }
    const bad = view.invalid || [];
    if (bad.length) {
      ban("invalid", "warn", bad.length + " key file(s) count for nothing: ",
        bad.map((k) => (k.file || k.id) + " (" + (k.reason || k.status) + ")").join("; "));
    }
    return out;
  }

  // cardState: red when more is in use than licensed (or locked), amber in
  // grace or lockdown, else plain.
  function cardState(p) {
    const ph = (p.overage || {}).phase;
    if (p.in_use > p.total || ph === "LOCKED") return "over";
    if (ph === "GRACE" || ph === "LOCKDOWN" || p.bypass) return "warn";
    return "ok";
  }

  function usageFacts(p) {
    const id = p.name;
    const ov = p.overage || { phase: "OK" };
    const facts = el("dl", { class: "facts" });
    const fact = (k, v) => facts.append(el("dt", {}, k), el("dd", {}, v));
    const nodes = Object.entries(p.in_use_by_node || {}).sort();
    fact("admitted, per node", nodes.length ? el("span", {}, ...nodes.flatMap(([n, c], i) =>
      [(i ? ", " : ""), n + " ", num(id + "-node-" + n, c)])) : "-");
    fact("legs on the wire", p.observed_legs === undefined ? "no SIP monitor" : num(id + "-observed_legs", p.observed_legs));
    fact("seen by AMI", num(id + "-passive", p.passive || 0));
    fact("14-day peak", num(id + "-peak_14d", p.peak_14d));
    let state = ov.phase;
    if (ov.phase !== "OK") {
      state = ov.over_days + " over-limit day(s)" + (ov.locks_in > 0 ? ", locks in " : "");
    }
    const st = el("span", {}, state);
    if (ov.phase !== "OK" && ov.locks_in > 0) st.append(num(id + "-locks_in", ov.locks_in), " days");
    fact("over the limit", st);
    const rej = Object.entries(p.rejections || {}).sort((a, b) => b[1] - a[1]);
    fact("refused, last hour", rej.length ? el("span", { id: id + "-rejections" }, ...rej.flatMap(([r, n], i) =>
      [(i ? ", " : ""), r + " ", num(id + "-rej-" + r, n)])) : el("span", { id: id + "-rejections" }, "none"));
    return facts;
  }

  function bypassAlert(p) {
    const b = p.bypass;
    const what = b.source === "ami" ? " channels seen by AMI" : " legs on the wire";
    return el("p", { id: p.name + "-bypass", class: "alert", role: "alert" },
      "Bypass: ", num(p.name + "-bypass-observed", b.observed), what + " against ",
      num(p.name + "-bypass-admitted", b.admitted), " admitted" + (b.since ? " since " + localTime(b.since) : "") +
      ". Calls are using " + p.name + " without asking licbridge.");
  }

  function keysTable(p) {
    const rows = (p.keys || []).map((k) => el("tr", { id: p.name + "-key-" + k.id },
      el("td", {}, k.id), el("td", {}, k.kind ? k.kind + (k.auto_renew ? ", auto-renew" : "") : "-"),
      el("td", { class: "num" }, k.channels), el("td", {}, (k.nodes || []).join(", ") || "-"),
      el("td", {}, k.binding || "-"), el("td", {}, localDate(k.end_date)),
      el("td", { class: "status-" + k.status }, k.status + (k.reason ? " (" + k.reason + ")" : "") +
        (k.ends_in_days !== undefined ? " - ends in " + k.ends_in_days + " days" : "")),
      el("td", {}, (k.conflicts || []).join(", "))));
    return el("table", { class: "keys" },
      el("thead", {}, el("tr", {}, ...["key", "kind", "channels", "nodes", "binding", "ends", "status", "conflicts"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows));
  }

  function renderProduct(p) {
    const id = p.name;
    const state = cardState(p);
    const s = el("section", { id: id, class: "product card-" + state, "data-state": state });
    const ov = p.overage || { phase: "OK" };
    s.append(el("h2", {}, p.name,
      el("span", { class: "badge" }, p.enforcement),
      el("span", { id: id + "-phase", class: "badge phase-" + ov.phase }, ov.phase)));

    const fill = el("div", { class: "fill" + (p.in_use > p.total ? " over" : "") });
    // CSSOM, not a style attribute: the page's CSP allows no inline style.
    fill.style.width = (p.total > 0 ? Math.min(100, (100 * p.in_use) / p.total) : (p.in_use > 0 ? 100 : 0)) + "%";
    s.append(el("div", { class: "usage" }, el("div", { class: "bar" }, fill),
      el("span", {}, num(id + "-in_use", p.in_use), " / ", num(id + "-total", p.total), " channels in use")));
    if (p.in_use > p.total) {
      s.append(el("p", { id: id + "-over", class: "alert", role: "alert" }, "Over the licensed total: " + p.in_use + " in use, " + p.total + " licensed."));
    }
    if (p.bypass) s.append(bypassAlert(p));
    s.append(usageFacts(p));
    if (p.warnings && p.warnings.length) {
      s.append(el("ul", { class: "warnings" }, ...p.warnings.map((w) => el("li", {}, w))));
    }
    s.append(el("div", { id: id + "-chart", class: "chart-box" }, "loading chart..."));
    s.append(keysTable(p));
    return s;
  }

  // drawChart draws the hourly peaks as bars, the licensed total as a dashed
  // line. The figures are in a caption above the chart, never inside it, so
  // no number sits by the dashed line and reads as the total.
  function drawChart(box, p, rep) {
    const W = 672, H = 120, top = 4, bottom = 16;
    const wins = rep.windows || [];
    const maxY = Math.max(1, p.total, ...wins.map((w) => w.peak)) * 1.1;
    const y = (v) => H - bottom - ((H - top - bottom) * v) / maxY;
    const g = svg("svg", { id: p.name + "-svg", class: "chart", viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", role: "img" });
    g.append(svg("title", {}, p.name + ": hourly peaks, last " + (rep.days || []).length + " days"));
    g.append(svg("line", { class: "axis", x1: 0, x2: W, y1: y(0), y2: y(0) }));
    const bw = W / Math.max(1, wins.length);
    wins.forEach((w, i) => {
      if (w.peak <= 0) return;
      const r = svg("rect", { class: "win" + (w.peak > p.total ? " over" : ""), x: i * bw, width: Math.max(bw, 1), y: y(w.peak), height: y(0) - y(w.peak) });
      r.append(svg("title", {}, localTime(w.start) + ": " + w.peak));
      g.append(r);
    });
    g.append(svg("line", { id: p.name + "-limit", class: "limit", x1: 0, x2: W, y1: y(p.total), y2: y(p.total) }));
    (rep.days || []).forEach((d, i, all) => {
      g.append(svg("text", { x: (i * W) / all.length + 2, y: H - 3 }, d.date.slice(5)));
    });
    const cap = el("div", { class: "chart-cap" }, "hourly peaks, 14 days: highest ", num(p.name + "-chart-peak", rep.peak),
      el("span", { class: "key-limit" }, " - - "), "licensed total " + p.total);
    box.replaceChildren(cap, g);
  }

  function showError(text) {
    const e = document.getElementById("error");
    e.textContent = text;
    e.hidden = false;
  }

  function fail(err) {
    if (err instanceof AuthError) {
      document.getElementById("login").hidden = false;
      document.documentElement.dataset.status = "login";
      return;
    }
    // The view itself could not be built: say so in words; the API's
    // detail follows for the admin who digs.
    let text = String(err.message || err);
    if (err instanceof APIError && err.status === 503) {
      text = "This node cannot show its view right now (the shared store may be down). Detail: " + err.message;
    } else if (!(err instanceof APIError)) {
      text = "The licbridge node does not answer (" + text + "). Is it running?";
    }
    showError(text);
    document.documentElement.dataset.status = "error";
  }

  async function load() {
    const view = await get("/api/v1/view");
    document.getElementById("node").textContent = "node " + view.node;
    const upd = document.getElementById("updated");
    upd.textContent = "as of " + localTime(view.time);
    upd.setAttribute("datetime", view.time);
    document.getElementById("banners").replaceChildren(...banners(view));
    const main = document.getElementById("products");
    main.replaceChildren(...view.products.map(renderProduct));
    await Promise.all(view.products.map(async (p) => {
      const box = document.getElementById(p.name + "-chart");
      try {
        drawChart(box, p, await get("/api/v1/stats?product=" + encodeURIComponent(p.name) + "&days=14"));
      } catch (e) {
        if (e instanceof AuthError) throw e;
        box.textContent = "no chart: " + (e.message || e);
      }
    }));
    document.getElementById("error").hidden = true;
    document.getElementById("login").hidden = true;
    document.documentElement.dataset.status = "ready";
  }

  document.getElementById("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN, document.getElementById("token").value);
    load().catch(fail);
  });
  load().catch(fail);
  setInterval(() => load().catch(fail), 15000);
})();
