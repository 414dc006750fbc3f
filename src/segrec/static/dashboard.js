// segrec dashboard: plain JavaScript against the public JSON API. Data is only ever written with
// textContent / setAttribute (never innerHTML), so ids and product names cannot inject markup.
"use strict";

(() => {
  const K = 10;
  const SIMILAR_K = 8;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const PROFILE = [
    ["median_total_spending", "spend", 2], ["median_frequency", "orders", 0],
    ["median_recency_days", "days since last", 0], ["median_avg_basket", "basket", 2],
    ["median_age", "age", 0], ["median_income", "income", 0],
  ];
  const segments = new Map();
  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------------------------------ helpers
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const pct = (v) => (v === null || v === undefined ? "n/a" : `${(v * 100).toFixed(1)}%`);
  const num = (v, digits = 0) => (v === null || v === undefined || Number.isNaN(Number(v)) ? "n/a"
    : Number(v).toLocaleString("en-GB", { minimumFractionDigits: digits, maximumFractionDigits: digits }));

  function errorText(body, status) {
    const detail = body && body.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    return `the server answered HTTP ${status}`;
  }

  async function api(path, body) {
    const options = { headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.method = "POST";
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    let payload = null;
    try { payload = await response.json(); } catch { payload = null; }
    if (!response.ok) {
      const error = new Error(errorText(payload, response.status));
      error.status = response.status;
      throw error;
    }
    return payload;
  }

  function status(message, isError = false) {
    const node = $("status");
    node.textContent = message;
    node.classList.toggle("error", isError);
  }

  function busy(region, message) {
    region.setAttribute("aria-busy", "true");
    region.replaceChildren(el("p", { class: "muted", text: message }));
  }

  function done(region, ...children) {
    region.replaceChildren(...children);
    region.removeAttribute("aria-busy");
  }

  // ------------------------------------------------------------------------------------- bundle & segments
  async function loadInfo() {
    try {
      const { bundle } = await api("/ready");
      const parts = [`model ${bundle.model}`, `${num(bundle.users)} customers`, `${num(bundle.items)} products`];
      if (bundle.data_fingerprint) parts.push(`data ${bundle.data_fingerprint}`);
      if (bundle.created_at) parts.push(`built ${bundle.created_at.slice(0, 10)}`);
      $("bundle-info").textContent = parts.join(" · ");
    } catch (error) {
      $("bundle-info").textContent = `No model loaded: ${error.message}`;
    }
  }

  async function loadSegments() {
    const region = $("segment-cards");
    try {
      const { segments: list } = await api("/v1/segments");
      for (const s of list) segments.set(s.segment, s);
      done(region, ...list.map(segmentCard));
      drawChart($("segment-chart"), list);
    } catch (error) {
      done(region, el("p", { class: "muted", text: `No segments to show: ${error.message}` }));
      $("segment-chart").replaceChildren();
    }
  }

  function segmentCard(s) {
    return el("article", { class: "card", "data-testid": "segment-card", "data-segment": s.segment },
      el("h3", { text: `${s.segment}. ${s.segment_name || "Segment"}`, title: s.rule || "" }),
      el("div", { class: "nums" },
        el("div", {}, el("b", { text: num(s.size) }), el("span", { text: "customers" })),
        el("div", {}, el("b", { text: pct(s.share) }), el("span", { text: "of customers" })),
        el("div", {}, el("b", { text: pct(s.revenue_share) }), el("span", { text: "of revenue" }))),
      el("p", { class: "action" }, el("strong", { text: "Action: " }), s.action || "none suggested"));
  }

  // Grouped horizontal bars, drawn as SVG: per segment its share of customers and of revenue.
  function drawChart(box, list) {
    const width = 400, label = 18, bar = 13, gap = 3, group = label + 2 * bar + gap + 14;
    const height = list.length * group + 4;
    const max = Math.max(0.01, ...list.flatMap((s) => [s.share || 0, s.revenue_share || 0]));
    const scale = (v) => ((v || 0) / max) * (width - 60);
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, "aria-hidden": "true", "data-testid": "segment-svg" });
    list.forEach((s, i) => {
      const y = i * group;
      root.append(svg("text", { x: 0, y: y + 13, class: "chart-label", "font-size": 12.5, "font-weight": 600, fill: "#1f2933" },
        `${s.segment}. ${s.segment_name || ""}`));
      [[s.share, "#1c7ed6"], [s.revenue_share, "#2b8a3e"]].forEach(([value, colour], j) => {
        const top = y + label + j * (bar + gap);
        root.append(svg("rect", { x: 0, y: top, width: Math.max(1, scale(value)), height: bar, rx: 3, fill: colour }));
        root.append(svg("text", { x: scale(value) + 5, y: top + bar - 2, "font-size": 11.5, fill: "#52606d" }, pct(value)));
      });
    });
    box.replaceChildren(root);
  }

  // ------------------------------------------------------------------------------------- customer lookup
  async function lookup(userId, mode) {
    const region = $("customer-result");
    busy(region, `Looking up ${userId}…`);
    status(`Loading customer ${userId}…`);
    const path = encodeURIComponent(userId);
    const [segment, recs] = await Promise.allSettled([
      api(`/v1/users/${path}/segment`),
      api(`/v1/users/${path}/recommendations?k=${K}&mode=${encodeURIComponent(mode)}`),
    ]);
    const children = [];
    if (segment.status === "fulfilled") children.push(...customerSegment(segment.value));
    else children.push(el("p", { class: "note", "data-testid": "customer-segment", text: segment.reason.status === 404
      ? `${userId} has no segment in this model (a new customer, or an unknown id).` : `Segment: ${segment.reason.message}` }));
    if (recs.status === "fulfilled") {
      const answer = recs.value;
      children.push(el("h3", { text: mode === "buy-again" ? "Recommended (past purchases included)" : "Recommended new products" }));
      if (answer.cold_start) {
        children.push(el("p", { class: "note", "data-testid": "cold-note",
          text: "Not in the purchase history: these are the recommendations for a new customer." }));
      }
      children.push(itemList(answer.items, "rec-list", "rec-item", true));
      status(`${answer.items.length} recommendations for ${userId}.`);
    } else {
      children.push(el("p", { class: "error", text: `Recommendations failed: ${recs.reason.message}` }));
      status(`Recommendations for ${userId} failed.`, true);
    }
    done(region, ...children);
    highlightSegment(segment.status === "fulfilled" ? segment.value.segment : null);
  }

  function customerSegment(answer) {
    const profile = segments.get(answer.segment) || {};
    const features = profile.features || {};
    const facts = PROFILE.filter(([key]) => features[key] !== undefined && features[key] !== null)
      .map(([key, text, digits]) => el("div", {}, el("b", { text: num(features[key], digits) }), el("span", { text })));
    const out = [el("div", { class: "who", "data-testid": "customer-segment", "data-segment": answer.segment },
      el("span", { class: "seg", text: `Segment ${answer.segment}: ${answer.segment_name || ""}` }),
      el("span", { class: "muted small", text: profile.size ? `${num(profile.size)} customers, ${pct(profile.share)}` : "" }),
      el("span", { class: "action" }, el("strong", { text: "Action: " }), answer.action || "none suggested"))];
    if (facts.length) {
      out.push(el("p", { class: "muted small", text: "A typical customer of this segment (medians):" }),
        el("div", { class: "facts", "data-testid": "customer-profile" }, ...facts));
    }
    return out;
  }

  function highlightSegment(segment) {
    for (const card of document.querySelectorAll("[data-testid=segment-card]")) {
      card.classList.toggle("current", segment !== null && card.dataset.segment === String(segment));
    }
  }

  // A ranked list of products; each name is a button that opens its similar products.
  function itemList(items, listId, itemTestId, withReason) {
    const list = el("ol", { class: "items", id: listId, "data-testid": listId });
    if (!items.length) list.append(el("li", { class: "muted", text: "No product to recommend." }));
    for (const item of items) {
      const button = el("button", { type: "button", class: "product-link", "data-testid": "product-link",
        "data-product-id": item.product_id, "aria-controls": "similar-panel", text: item.product_name || item.product_id });
      button.addEventListener("click", () => showSimilar(item, button.closest("li")));
      const li = el("li", { "data-testid": itemTestId, "data-product-id": item.product_id }, button,
        el("span", { class: "score", title: "score", text: Number(item.score).toFixed(3) }));
      if (withReason && item.reason) li.append(el("span", { class: "item-meta", "data-testid": "reason", text: item.reason }));
      else li.append(el("span", { class: "item-meta", text: item.product_id }));
      list.append(li);
    }
    return list;
  }

  // ------------------------------------------------------------------------------------- similar products
  async function showSimilar(item, li) {
    for (const node of document.querySelectorAll("ol.items li.selected")) node.classList.remove("selected");
    if (li) li.classList.add("selected");
    const region = $("similar-panel");
    const name = item.product_name || item.product_id;
    busy(region, `Finding products similar to ${name}…`);
    try {
      const answer = await api(`/v1/products/${encodeURIComponent(item.product_id)}/similar?k=${SIMILAR_K}`);
      done(region,
        el("p", { "data-testid": "similar-title" }, "Customers who like ", el("strong", { text: name }),
          el("span", { class: "muted small", text: ` (${item.product_id})` }), " also like:"),
        itemList(answer.items, "similar-list", "similar-item", false));
      status(`${answer.items.length} products similar to ${name}.`);
    } catch (error) {
      done(region, el("p", { class: "error", text: `No similar products for ${name}: ${error.message}` }));
      status(`Similar products for ${name} failed.`, true);
    }
  }

  // ------------------------------------------------------------------------------------- cold start
  async function coldStart(form) {
    const region = $("coldstart-results");
    const data = new FormData(form);
    const customer = {};
    for (const key of ["age", "income"]) {
      const value = String(data.get(key) || "").trim();
      if (value !== "") customer[key] = Number(value);
    }
    for (const key of ["gender", "location"]) {
      const value = String(data.get(key) || "").trim();
      if (value !== "") customer[key] = value;
    }
    const described = Object.keys(customer).length > 0;
    busy(region, "Finding recommendations…");
    try {
      const answer = await api("/v1/recommendations", described ? { customer, k: K } : { k: K });
      const items = answer.results[0].items;
      done(region,
        el("h3", { text: described ? "Recommended for this customer" : "Recommended for anyone (nothing described)" }),
        itemList(items, "coldstart-list", "coldstart-item", true));
      status(`${items.length} recommendations for a new customer.`);
    } catch (error) {
      done(region, el("p", { class: "error", text: `Could not recommend: ${error.message}` }));
      status("Cold-start recommendations failed.", true);
    }
  }

  // ------------------------------------------------------------------------------------- wiring
  function init() {
    $("customer-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const id = $("customer-id").value.trim();
      if (!id) return;
      history.replaceState(null, "", `#customer=${encodeURIComponent(id)}`);
      lookup(id, $("mode").value);
    });
    $("coldstart-form").addEventListener("submit", (event) => {
      event.preventDefault();
      coldStart(event.target);
    });
    loadInfo();
    loadSegments().then(() => {
      const match = /^#customer=(.+)$/.exec(location.hash);
      if (match) {
        $("customer-id").value = decodeURIComponent(match[1]);
        lookup($("customer-id").value, $("mode").value);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", init);
})();
