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

  async function get(path) {
    const headers = {};
    const tok = sessionStorage.getItem(TOKEN);
    if (tok) headers.Authorization = "Bearer " + tok;
    const r = await fetch(path, { headers: headers, cache: "no-store" });
    if (r.status === 401) throw new AuthError("token required");
    if (!r.ok) {
      let msg = String(r.status);
      try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
      throw new Error(path + ": " + msg);
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

  function renderProduct(p) {
    const id = p.name;
    const s = el("section", { id: id, class: "product" });
    const ov = p.overage || { phase: "OK" };
    s.append(el("h2", {}, p.name,
      el("span", { class: "badge" }, p.enforcement),
      el("span", { id: id + "-phase", class: "badge phase-" + ov.phase }, ov.phase)));

    const fill = el("div", { class: "fill" + (p.in_use > p.total ? " over" : "") });
    // CSSOM, not a style attribute: the page's CSP allows no inline style.
    fill.style.width = (p.total > 0 ? Math.min(100, (100 * p.in_use) / p.total) : (p.in_use > 0 ? 100 : 0)) + "%";
    s.append(el("div", { class: "usage" }, el("div", { class: "bar" }, fill),
      el("span", {}, num(id + "-in_use", p.in_use), " / ", num(id + "-total", p.total), " channels")));

    const facts = el("dl", { class: "facts" });
    const fact = (k, v) => facts.append(el("dt", {}, k), el("dd", {}, v));
    const nodes = Object.entries(p.in_use_by_node || {}).sort();
    fact("per node", nodes.length ? el("span", {}, ...nodes.flatMap(([n, c], i) =>
      [(i ? ", " : ""), n + " ", num(id + "-node-" + n, c)])) : "-");
    fact("legs on the wire", p.observed_legs === undefined ? "no monitor" : num(id + "-observed_legs", p.observed_legs));
    fact("seen by AMI", num(id + "-passive", p.passive || 0));
    fact("14-day peak", num(id + "-peak_14d", p.peak_14d));
    let state = ov.phase;
    if (ov.phase !== "OK") {
      state = ov.over_days + " over-limit day(s)" + (ov.locks_in > 0 ? ", locks in " : "");
    }
    const st = el("span", {}, state);
    if (ov.phase !== "OK" && ov.locks_in > 0) st.append(num(id + "-locks_in", ov.locks_in), " days");
    fact("over the limit", st);
    s.append(facts);

    if (p.warnings && p.warnings.length) {
      s.append(el("ul", { class: "warnings" }, ...p.warnings.map((w) => el("li", {}, w))));
    }
    const chart = el("div", { id: id + "-chart" }, "loading chart...");
    s.append(chart);

    const rows = (p.keys || []).map((k) => el("tr", { id: id + "-key-" + k.id },
      el("td", {}, k.id), el("td", { class: "num" }, k.channels), el("td", {}, (k.nodes || []).join(", ") || "-"),
      el("td", {}, k.binding), el("td", {}, k.end_date ? k.end_date.slice(0, 10) : "-"),
      el("td", { class: "status-" + k.status }, k.status + (k.reason ? " (" + k.reason + ")" : "") +
        (k.ends_in_days !== undefined ? " - ends in " + k.ends_in_days + " days" : "")),
      el("td", {}, (k.conflicts || []).join(", "))));
    s.append(el("table", { class: "keys" },
      el("thead", {}, el("tr", {}, ...["key", "channels", "nodes", "binding", "ends", "status", "conflicts"].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows)));
    return s;
  }

  // drawChart draws the hourly peaks as bars, the licensed total as a dashed line.
  function drawChart(box, p, rep) {
    const W = 672, H = 120, top = 8, bottom = 16;
    const wins = rep.windows || [];
    const maxY = Math.max(1, p.total, ...wins.map((w) => w.peak));
    const y = (v) => H - bottom - ((H - top - bottom) * v) / maxY;
    const g = svg("svg", { id: p.name + "-svg", class: "chart", viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", role: "img" });
    g.append(svg("title", {}, p.name + ": hourly peaks, last " + (rep.days || []).length + " days"));
    g.append(svg("line", { class: "axis", x1: 0, x2: W, y1: y(0), y2: y(0) }));
    const bw = W / Math.max(1, wins.length);
    wins.forEach((w, i) => {
      if (w.peak <= 0) return;
      const r = svg("rect", { class: "win" + (w.peak > p.total ? " over" : ""), x: i * bw, width: Math.max(bw, 1), y: y(w.peak), height: y(0) - y(w.peak) });
      r.append(svg("title", {}, w.start + ": " + w.peak));
      g.append(r);
    });
    g.append(svg("line", { class: "limit", x1: 0, x2: W, y1: y(p.total), y2: y(p.total) }));
    (rep.days || []).forEach((d, i, all) => {
      g.append(svg("text", { x: (i * W) / all.length + 2, y: H - 3 }, d.date.slice(5)));
    });
    g.append(svg("text", { id: p.name + "-chart-peak", x: W - 4, y: top + 8, "text-anchor": "end" }, rep.peak));
    box.replaceChildren(g);
  }

  function fail(err) {
    if (err instanceof AuthError) {
      document.getElementById("login").hidden = false;
      document.documentElement.dataset.status = "login";
      return;
    }
    const e = document.getElementById("error");
    e.textContent = String(err.message || err);
    e.hidden = false;
    document.documentElement.dataset.status = "error";
  }

  async function load() {
    const view = await get("/api/v1/view");
    document.getElementById("node").textContent = "node " + view.node;
    document.getElementById("updated").textContent = "as of " + view.time;
    const main = document.getElementById("products");
    main.replaceChildren(...view.products.map(renderProduct));
    await Promise.all(view.products.map(async (p) => {
      const rep = await get("/api/v1/stats?product=" + encodeURIComponent(p.name) + "&days=14");
      drawChart(document.getElementById(p.name + "-chart"), p, rep);
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
