// segrec dashboard: plain JavaScript against the public JSON API. Data is only ever written with
// textContent / setAttribute (never innerHTML), so ids and product names cannot inject markup.
"use strict";

(() => {
  const K = 10;
  const SIMILAR_K = 8;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const PAGE = 50;
  const EVENTS = 10;
  const GENDERS = { F: "female", M: "male", X: "other" };
  // The customer's own figures shown beside the segment's medians: [key, label, decimals].
  const FIGURES = [["total_spending", "Spend", 2], ["frequency", "Orders", 0], ["recency_days", "Days since last order", 0],
    ["avg_basket", "Basket", 2], ["tenure_days", "Days as customer", 0]];
  const MEMBER_COLUMNS = [["user_id", "Customer"], ["total_spending", "Spend", 2], ["frequency", "Orders", 0],
    ["recency_days", "Days since last order", 0], ["rfm_group", "RFM group"]];
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
    const members = el("button", { type: "button", class: "secondary", "data-testid": "segment-members",
      "aria-controls": "drilldown", text: `Members of segment ${s.segment}` });
    members.addEventListener("click", () => openSegment(s.segment, "total_spending", "desc"));
    return el("article", { class: "card", "data-testid": "segment-card", "data-segment": s.segment },
      el("h3", { text: `${s.segment}. ${s.segment_name || "Segment"}` }),
      s.rule ? el("p", { class: "rule", "data-testid": "segment-rule", text: `Rule: ${s.rule}` }) : "",
      el("div", { class: "nums" },
        el("div", {}, el("b", { text: num(s.size) }), el("span", { text: "customers" })),
        el("div", {}, el("b", { text: pct(s.share) }), el("span", { text: "of customers" })),
        el("div", {}, el("b", { text: pct(s.revenue_share) }), el("span", { text: "of revenue" }))),
      el("p", { class: "action" }, el("strong", { text: "Action: " }), s.action || "none suggested"),
      members);
  }

  // Grouped horizontal bars, drawn as SVG: per segment its share of customers and of revenue.
  function drawChart(box, list) {
    const width = 400, label = 19, bar = 15, gap = 3, group = label + 2 * bar + gap + 14;
    const height = list.length * group + 4;
    const max = Math.max(0.01, ...list.flatMap((s) => [s.share || 0, s.revenue_share || 0]));
    const scale = (v) => ((v || 0) / max) * (width - 60);
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, "aria-hidden": "true", "data-testid": "segment-svg" });
    list.forEach((s, i) => {
      const y = i * group;
      root.append(svg("text", { x: 0, y: y + 14, class: "chart-label", "font-size": 14, "font-weight": 600, fill: "#1f2933" },
        `${s.segment}. ${s.segment_name || ""}`));
      [[s.share, "#1c7ed6"], [s.revenue_share, "#2b8a3e"]].forEach(([value, colour], j) => {
        const top = y + label + j * (bar + gap);
        root.append(svg("rect", { x: 0, y: top, width: Math.max(1, scale(value)), height: bar, rx: 3, fill: colour }));
        root.append(svg("text", { x: scale(value) + 5, y: top + bar - 2, "font-size": 13, fill: "#52606d" }, pct(value)));
      });
    });
    box.replaceChildren(root);
  }

  // ------------------------------------------------------------------------------------- customer lookup
  // Recommendations come from the batch endpoint and the customer from /profile (an id taken as a path): an id
  // with any character, "/" included, is looked up as it is.
  async function lookup(userId, mode) {
    const region = $("customer-result");
    resetSimilar();
    busy(region, `Looking up ${userId}…`);
    status(`Loading customer ${userId}…`);
    const [profile, recs, events] = await Promise.allSettled([
      api(`/v1/users/${encodeURIComponent(userId)}/profile`),
      api("/v1/recommendations", { user_ids: [userId], k: K, mode }),
      api(`/v1/users/${encodeURIComponent(userId)}/events?limit=${EVENTS}`),
    ]);
    const children = [];
    if (profile.status === "fulfilled") children.push(...customerView(profile.value));
    else children.push(el("p", { class: "note", "data-testid": "customer-segment", text: profile.reason.status === 404
      ? `${userId} is not in this model's purchase history (a new customer, or an unknown id).`
      : `Customer figures unavailable: ${profile.reason.message}` }));
    // Events need the API's event store: without it (an older server) the customer view has no events part.
    const customer = { id: userId, mode, events: events.status === "fulfilled" };
    if (customer.events) children.push(el("div", { id: "recent-events", "data-testid": "recent-events" }, ...eventsView(events.value)));
    const block = el("div", { id: "rec-block" });
    children.push(block);
    done(region, ...children);
    if (recs.status === "fulfilled") {
      block.replaceChildren(...recsView(recs.value.results[0], customer));
      status(`${recs.value.results[0].items.length} recommendations for ${userId}.`);
    } else {
      block.replaceChildren(el("p", { class: "error", text: `Recommendations failed: ${recs.reason.message}` }));
      status(`Recommendations for ${userId} failed.`, true);
    }
    highlightSegment(profile.status === "fulfilled" ? profile.value.segment : null);
  }

  function recsView(answer, customer) {
    const out = [el("h3", { text: customer.mode === "buy-again" ? "Recommended (past purchases included)" : "Recommended new products" })];
    if (answer.cold_start) {
      out.push(el("p", { class: "note", "data-testid": "cold-note",
        text: "Not in the purchase history: these are the recommendations for a new customer." }));
    }
    if (answer.personalised_from_events) {
      out.push(el("p", { class: "note", "data-testid": "events-note",
        text: "These take the events received since the model was built into account." }));
    }
    out.push(itemList(answer.items, "rec-list", "rec-item", true, customer.events ? (item) => recordPurchase(item, customer) : null));
    return out;
  }

  function eventsView(answer) {
    const out = [el("h3", { text: "Recent events" })];
    if (!answer.events.length) {
      out.push(el("p", { class: "muted small", text: "No event received for this customer since the model was built." }));
      return out;
    }
    out.push(el("ul", { class: "purchases", "data-testid": "event-list" }, ...answer.events.map((e) =>
      el("li", { "data-testid": "event", "data-product-id": e.product_id, "data-event-type": e.event_type },
        el("span", { text: `${e.event_type}: ${e.product_name || e.product_id}` }),
        el("span", { class: "muted small", text: ` ${e.quantity}× · ${e.timestamp.replace("T", " ").slice(0, 16)}` })))));
    return out;
  }

  // "Record a purchase": post the event, then refresh this customer's events and recommendations in place.
  async function recordPurchase(item, customer) {
    const name = item.product_name || item.product_id;
    const eventId = window.crypto && crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
    status(`Recording a purchase of ${name}…`);
    try {
      await api("/v1/events", { events: [{ user_id: customer.id, product_id: item.product_id, event_type: "purchase",
        quantity: 1, event_id: `dashboard-${eventId}` }] });
      const [recs, events] = await Promise.all([
        api("/v1/recommendations", { user_ids: [customer.id], k: K, mode: customer.mode }),
        api(`/v1/users/${encodeURIComponent(customer.id)}/events?limit=${EVENTS}`),
      ]);
      $("recent-events").replaceChildren(...eventsView(events));
      $("rec-block").replaceChildren(...recsView(recs.results[0], customer));
      resetSimilar();
      status(`Purchase of ${name} recorded; the recommendations are refreshed.`);
    } catch (error) {
      status(`Could not record the purchase of ${name}: ${error.message}`, true);
    }
  }

  function customerView(profile) {
    const out = [];
    const segment = profile.segment;
    if (segment !== null && segment !== undefined) {
      const card = segments.get(segment) || {};
      out.push(el("div", { class: "who", "data-testid": "customer-segment", "data-segment": segment },
        el("span", { class: "seg", text: `Segment ${segment}: ${profile.segment_name || card.segment_name || ""}` }),
        el("span", { class: "muted small", text: card.size ? `${num(card.size)} customers, ${pct(card.share)}` : "" }),
        el("span", { class: "action" }, el("strong", { text: "Action: " }), card.action || "none suggested")));
    } else {
      out.push(el("p", { class: "note", "data-testid": "customer-segment", text: `${profile.user_id} has no segment in this model.` }));
    }
    const figures = profile.figures || {};
    const medians = profile.segment_medians || {};
    const rows = FIGURES.filter(([key]) => figures[key] !== undefined && figures[key] !== null);
    if (rows.length) {
      const body = el("tbody", {}, ...rows.map(([key, label, digits]) => el("tr", { "data-key": key },
        el("th", { scope: "row", text: label }),
        el("td", { class: "n", "data-testid": "own-figure", text: num(figures[key], digits) }),
        el("td", { class: "n", text: num(medians[key], digits) }))));
      out.push(el("table", { class: "compare", "data-testid": "customer-profile" },
        el("caption", { class: "muted small", text: "This customer beside the median customer of the segment" }),
        el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Figure" }),
          el("th", { scope: "col", class: "n", text: "Customer" }), el("th", { scope: "col", class: "n", text: "Segment median" }))),
        body));
    }
    if (figures.rfm_group) {
      out.push(el("p", { class: "small", "data-testid": "rfm-group" }, el("strong", { text: "RFM group: " }),
        `${figures.rfm_group}${figures.rfm_score ? ` (recency, frequency, money scores ${figures.rfm_score})` : ""}`));
    }
    if ((profile.last_purchases || []).length) {
      out.push(el("h3", { text: "Last purchases" }),
        el("ul", { class: "purchases", "data-testid": "last-purchases" }, ...profile.last_purchases.map((p) =>
          el("li", { "data-product-id": p.product_id }, el("span", { text: p.product_name }),
            el("span", { class: "muted small", text: ` ${p.times}× · ${p.days_before_end === null ? "" :
              p.days_before_end === 0 ? "on the last day" : `${num(p.days_before_end)} days before the data's end`}` })))));
    }
    return out;
  }

  function highlightSegment(segment) {
    for (const card of document.querySelectorAll("[data-testid=segment-card]")) {
      card.classList.toggle("current", segment !== null && segment !== undefined && card.dataset.segment === String(segment));
    }
  }

  // A ranked list of products; each name is a button that opens its similar products. The list is in the
  // recommender's order; its raw scores are not shown (they are on per-mode scales, see the API's `score`).
  function itemList(items, listId, itemTestId, withReason, onRecord = null) {
    const list = el("ol", { class: "items", id: listId, "data-testid": listId });
    if (!items.length) list.append(el("li", { class: "muted", text: "No product to recommend." }));
    for (const item of items) {
      const button = el("button", { type: "button", class: "product-link", "data-testid": "product-link",
        "data-product-id": item.product_id, "aria-controls": "similar-panel", text: item.product_name || item.product_id });
      button.addEventListener("click", () => showSimilar(item, button.closest("li")));
      const li = el("li", { "data-testid": itemTestId, "data-product-id": item.product_id }, button);
      if (withReason && item.reason) li.append(el("span", { class: "item-meta", "data-testid": "reason", text: item.reason }));
      else li.append(el("span", { class: "item-meta", text: item.product_id }));
      if (onRecord) {
        const record = el("button", { type: "button", class: "record", "data-testid": "record-purchase",
          "aria-label": `Record a purchase of ${item.product_name || item.product_id}`, text: "Record a purchase" });
        record.addEventListener("click", () => onRecord(item));
        li.append(record);
      }
      list.append(li);
    }
    return list;
  }

  // ------------------------------------------------------------------------------------- segment drill-down
  const drill = { segment: null, sort: "total_spending", order: "desc", offset: 0 };

  async function openSegment(segment, sort = drill.sort, order = drill.order, append = false) {
    Object.assign(drill, { segment, sort, order, offset: append ? drill.offset : 0 });
    const section = $("drilldown");
    section.hidden = false;
    const card = segments.get(segment) || {};
    $("drilldown-title").textContent = `Segment ${segment}: ${card.segment_name || ""} — members`;
    $("downloads").replaceChildren(
      el("a", { "data-testid": "download-members", download: "", text: "Download the members (CSV)",
        href: `/v1/segments/${segment}/customers.csv?sort=${sort}&order=${order}` }),
      el("a", { "data-testid": "download-recs", download: "", text: `Download their top ${K} recommendations (CSV)`,
        href: `/v1/segments/${segment}/recommendations.csv?k=${K}&mode=${encodeURIComponent($("mode").value)}` }));
    try {
      const page = await api(`/v1/segments/${segment}/customers?sort=${sort}&order=${order}&offset=${drill.offset}&limit=${PAGE}`);
      drawMembers(page, append);
      drill.offset += page.customers.length;
      $("members-more").hidden = drill.offset >= page.total;
      $("drilldown-summary").textContent = `${num(page.total)} customers; showing ${num(drill.offset)}, sorted by ${
        (MEMBER_COLUMNS.find(([key]) => key === sort) || [sort, sort])[1].toLowerCase()} (${order === "desc" ? "highest" : "lowest"} first).`;
      status(`Segment ${segment}: ${num(page.total)} members.`);
    } catch (error) {
      $("members-body").replaceChildren(el("tr", {}, el("td", { text: `No members to show: ${error.message}` })));
      status(`Segment ${segment} members failed.`, true);
    }
    if (!append) $("drilldown-title").focus();
  }

  function drawMembers(page, append) {
    const head = $("members-head");
    head.replaceChildren(...MEMBER_COLUMNS.map(([key, label]) => {
      const sorted = key === drill.sort;
      const th = el("th", { scope: "col", class: key === "user_id" || key === "rfm_group" ? "" : "n",
        "aria-sort": sorted ? (drill.order === "asc" ? "ascending" : "descending") : "none" });
      if (key === "rfm_group") th.textContent = label;
      else {
        const button = el("button", { type: "button", class: "sort", "data-sort": key, text: label + (sorted ? (drill.order === "asc" ? " ▲" : " ▼") : "") });
        button.addEventListener("click", () => openSegment(drill.segment, key,
          sorted && drill.order === "desc" ? "asc" : sorted ? "desc" : key === "user_id" || key === "recency_days" ? "asc" : "desc"));
        th.append(button);
      }
      return th;
    }));
    const rows = page.customers.map((c) => el("tr", { "data-testid": "member", "data-user-id": c.user_id },
      ...MEMBER_COLUMNS.map(([key, , digits]) => {
        if (key === "user_id") {
          const button = el("button", { type: "button", class: "product-link", text: c.user_id });
          button.addEventListener("click", () => { $("customer-id").value = c.user_id; submitLookup(); });
          return el("td", {}, button);
        }
        return el("td", { class: key === "rfm_group" ? "" : "n", text: key === "rfm_group" ? (c[key] || "") : num(c[key], digits) });
      })));
    if (append) $("members-body").append(...rows);
    else $("members-body").replaceChildren(...rows);
  }

  // ------------------------------------------------------------------------------------- similar products
  function resetSimilar() {
    done($("similar-panel"), el("p", { class: "muted", text: "Choose a recommended product to see what customers also like." }));
  }

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
  async function loadColdStartOptions() {
    try {
      const options = await api("/v1/cold-start/options");
      $("cs-location").append(...options.locations.map((v) => el("option", { value: v, text: v })));
      $("cs-gender").append(...options.genders.map((v) => el("option", { value: v, text: GENDERS[v] || v })));
    } catch { /* an older bundle: the fields stay "not given" */ }
  }

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
    const features = {};
    for (const key of ["age", "income"]) if (key in customer) features[key] = customer[key];
    const [assigned, recs] = await Promise.allSettled([
      api("/v1/segments/assign", features),
      api("/v1/recommendations", described ? { customer, k: K } : { k: K }),
    ]);
    const children = [];
    if (assigned.status === "fulfilled") {
      const a = assigned.value;
      const from = Object.keys(features).length ? `from ${Object.keys(features).join(" and ")}; ` : "";
      children.push(el("p", { class: "note", "data-testid": "coldstart-segment", "data-segment": a.segment },
        el("strong", { text: `Likely segment ${a.segment}: ${a.segment_name || ""}` }),
        ` (${from}buying behaviour unknown, so taken at the median)`));
    }
    if (recs.status === "fulfilled") {
      const items = recs.value.results[0].items;
      children.push(el("h3", { text: described ? "Recommended for this customer" : "Recommended for anyone (nothing described)" }),
        itemList(items, "coldstart-list", "coldstart-item", true));
      status(`${items.length} recommendations for a new customer.`);
    } else {
      children.push(el("p", { class: "error", text: `Could not recommend: ${recs.reason.message}` }));
      status("Cold-start recommendations failed.", true);
    }
    done(region, ...children);
  }

  // ------------------------------------------------------------------------------------- wiring
  // An empty or blank id is said, and the previous customer's answer is cleared rather than left standing.
  function submitLookup() {
    const input = $("customer-id");
    const id = input.value.trim();
    if (!id) {
      $("customer-id-error").textContent = "Enter a customer id.";
      input.setAttribute("aria-invalid", "true");
      resetSimilar();
      highlightSegment(null);
      done($("customer-result"), el("p", { class: "muted", text: "Enter a customer id to see their figures and recommendations." }));
      status("Enter a customer id.", true);
      input.focus();
      return;
    }
    $("customer-id-error").textContent = "";
    input.removeAttribute("aria-invalid");
    history.replaceState(null, "", `#customer=${encodeURIComponent(id)}`);
    lookup(id, $("mode").value);
  }

  function init() {
    $("customer-form").addEventListener("submit", (event) => {
      event.preventDefault();
      submitLookup();
    });
    $("members-more").addEventListener("click", () => openSegment(drill.segment, drill.sort, drill.order, true));
    $("coldstart-form").addEventListener("submit", (event) => {
      event.preventDefault();
      coldStart(event.target);
    });
    loadInfo();
    loadColdStartOptions();
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
