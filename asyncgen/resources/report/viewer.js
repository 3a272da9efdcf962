// asyncgen dataset report: tabs and the conversation browser. No network: the index and
// the gzip-compressed chunks of full entries are embedded in this page.
"use strict";
(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

  // ---- tabs ----
  function showTab(name) {
    document.querySelectorAll("nav.tabs a").forEach((a) =>
      a.classList.toggle("on", a.dataset.tab === name));
    document.querySelectorAll("section.tab").forEach((s) =>
      s.classList.toggle("on", s.id === name));
    if (name === "conversations") list.render();
  }
  document.querySelectorAll("nav.tabs a").forEach((a) =>
    a.addEventListener("click", (ev) => { ev.preventDefault(); history.replaceState(null, "", "#" + a.dataset.tab); showTab(a.dataset.tab); }));

  // ---- index ----
  const indexNode = document.getElementById("ag-index");
  const index = indexNode ? JSON.parse(indexNode.textContent) : { count: 0, facets: [], columns: { id: [], snippet: [] }, chunk_size: 1 };
  const cols = index.columns;
  const n = index.count;
  const facets = index.facets;
  const byId = new Map(cols.id.map((id, i) => [id, i]));

  function valuesOf(key, i) {            // the display values of row i for a facet
    const col = cols[key];
    const f = facets.find((x) => x.key === key);
    if (!col || !f) return [];
    if (f.kind === "num") return col[i] == null ? [] : [col[i]];
    if (f.kind === "many") return col.codes[i].map((c) => col.values[c]);
    return col.codes[i] < 0 ? [] : [col.values[col.codes[i]]];
  }

  // ---- chunks: inflated on demand, kept once inflated ----
  const chunks = new Map();
  function loadChunk(c) {
    if (chunks.has(c)) return chunks.get(c);
    const node = document.getElementById("ag-chunk-" + c);
    const p = (async () => {
      const bin = atob(node.textContent.trim());
      const bytes = new Uint8Array(bin.length);
      for (let k = 0; k < bin.length; k++) bytes[k] = bin.charCodeAt(k);
      const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
      return JSON.parse(await new Response(stream).text());
    })();
    chunks.set(c, p);
    return p;
  }
  async function entry(i) {
    const rows = await loadChunk(Math.floor(i / index.chunk_size));
    return rows[i % index.chunk_size];
  }

  // ---- filters ----
  const state = { q: "", facets: {}, turnsMin: null, turnsMax: null, scoreMin: null };
  const fullText = new Array(n).fill(null);
  const filterBox = $("#filters");

  function buildFilters() {
    if (!filterBox) return;
    const parts = [`<label class="wide">Search<input id="f-q" type="search" placeholder="words in the conversation, persona or reason"></label>`];
    for (const f of facets) {
      if (f.kind === "num") continue;
      const col = cols[f.key];
      if (!col || col.values.length < 1) continue;
      if (col.values.length < 2 && f.key !== "persona") continue;
      const counts = new Array(col.values.length).fill(0);
      if (f.kind === "many") col.codes.forEach((row) => row.forEach((c) => counts[c]++));
      else col.codes.forEach((c) => { if (c >= 0) counts[c]++; });
      let opts = `<option value="">any</option>`;
      if (f.key === "features") {
        const groups = new Map();
        col.values.forEach((v, k) => {
          const g = v.split(": ")[0];
          if (!groups.has(g)) groups.set(g, []);
          groups.get(g).push(k);
        });
        for (const [g, ks] of groups) {
          opts += `<optgroup label="${esc(g)}">` + ks.map((k) =>
            `<option value="${k}">${esc(col.values[k].slice(g.length + 2))} (${counts[k]})</option>`).join("") + "</optgroup>";
        }
      } else {
        opts += col.values.map((v, k) => `<option value="${k}">${esc(v)} (${counts[k]})</option>`).join("");
      }
      parts.push(`<label${f.key === "features" ? ' class="wide"' : ""}>${esc(f.label)}<select data-facet="${f.key}">${opts}</select></label>`);
    }
    const hasTurns = cols.turns && cols.turns.some((v) => v != null);
    if (hasTurns) parts.push(`<label>Turns<span class="pair"><input id="f-tmin" type="number" min="0" placeholder="min"><input id="f-tmax" type="number" min="0" placeholder="max"></span></label>`);
    const hasScore = cols.score && cols.score.some((v) => v != null);
    parts.push(`<label>Judge score at least<input id="f-score" type="number" min="1" max="5" step="0.5" ${hasScore ? "" : 'disabled placeholder="not judged"'}></label>`);
    filterBox.innerHTML = parts.join("");
    filterBox.addEventListener("input", onFilterInput);
    filterBox.addEventListener("change", onFilterInput);
  }

  function num(id) { const el = document.getElementById(id); if (!el || el.value === "") return null; const v = Number(el.value); return Number.isFinite(v) ? v : null; }

  function onFilterInput() {
    state.q = ($("#f-q") ? $("#f-q").value : "").trim().toLowerCase();
    state.facets = {};
    filterBox.querySelectorAll("select[data-facet]").forEach((s) => { if (s.value !== "") state.facets[s.dataset.facet] = Number(s.value); });
    state.turnsMin = num("f-tmin"); state.turnsMax = num("f-tmax"); state.scoreMin = num("f-score");
    if (state.q.length >= 2) loadFullText();
    apply();
  }

  let textPromise = null;
  function loadFullText() {
    if (!textPromise) textPromise = readAllText();
    return textPromise;
  }
  async function readAllText() {
    const total = Math.ceil(n / index.chunk_size);
    for (let c = 0; c < total; c++) {
      const rows = await loadChunk(c);
      rows.forEach((e, k) => { fullText[c * index.chunk_size + k] = entryText(e); });
      progress.textContent = c + 1 < total ? `searching full text: ${c + 1} of ${total} parts read` : "";
      if (state.q.length >= 2 && (c % 5 === 4 || c + 1 === total)) apply();
    }
  }

  function entryText(e) {
    const bits = [e.id, e.reason, e.reason_text, e.error, e.persona && e.persona.text, e.persona && e.persona.id,
      e.scenario && e.scenario.text, e.scenario && e.scenario.category];
    for (const t of e.turns || []) bits.push(t.user, t.clean, t.assistant, t.intent);
    return bits.filter(Boolean).join("\n").toLowerCase();
  }

  let matches = [];
  function apply() {
    const out = [];
    const fk = Object.keys(state.facets);
    for (let i = 0; i < n; i++) {
      let ok = true;
      for (const key of fk) {
        const col = cols[key]; const want = state.facets[key];
        const f = facets.find((x) => x.key === key);
        if (f.kind === "many" ? !col.codes[i].includes(want) : col.codes[i] !== want) { ok = false; break; }
      }
      if (!ok) continue;
      const t = cols.turns ? cols.turns[i] : null;
      if (state.turnsMin != null && (t == null || t < state.turnsMin)) continue;
      if (state.turnsMax != null && (t == null || t > state.turnsMax)) continue;
      if (state.scoreMin != null) { const s = cols.score[i]; if (s == null || s < state.scoreMin) continue; }
      if (state.q) {
        const hay = fullText[i] || (cols.id[i] + " " + cols.snippet[i]).toLowerCase();
        if (!hay.includes(state.q)) continue;
      }
      out.push(i);
    }
    matches = out;
    countNode.textContent = `${out.length.toLocaleString("en")} of ${n.toLocaleString("en")} conversations`;
    list.reset();
  }

  // ---- virtual list ----
  const ROW = 64;
  const listNode = $("#list");
  const countNode = $("#count-text") || document.createElement("span");
  const progress = $("#search-progress") || document.createElement("span");
  let selected = -1;
  const list = {
    reset() { if (!listNode) return; listNode.scrollTop = 0; this.render(); },
    render() {
      if (!listNode) return;
      const h = listNode.clientHeight || 600;
      const first = Math.max(0, Math.floor(listNode.scrollTop / ROW) - 5);
      const last = Math.min(matches.length, first + Math.ceil(h / ROW) + 10);
      let html = `<div style="height:${matches.length * ROW}px"></div>`;
      for (let k = first; k < last; k++) {
        const i = matches[k];
        const status = valuesOf("status", i)[0] || "";
        const persona = valuesOf("persona", i)[0];
        const svc = valuesOf("services", i).join(", ");
        const res = valuesOf("resolution", i)[0];
        const t = cols.turns ? cols.turns[i] : null;
        const s = cols.score ? cols.score[i] : null;
        const reason = valuesOf("reason", i)[0];
        const bits = [persona ? `<b>${esc(persona)}</b>` : "", svc ? esc(svc) : "", res ? esc(res) : "",
          t != null ? `${t} turns` : "", s != null ? `score ${s.toFixed(1)}` : "",
          valuesOf("noised", i)[0] === "Noised" ? "noised" : "", reason ? esc(reason) : ""].filter(Boolean);
        html += `<div class="item${i === selected ? " sel" : ""}" data-i="${i}" style="top:${k * ROW}px">` +
          `<div class="l1"><span class="st ${esc(status)}">${esc(status)}</span><span class="mono">${esc(cols.id[i])}</span>${bits.join(" · ")}</div>` +
          `<div class="l2">${esc(cols.snippet[i])}</div></div>`;
      }
      listNode.innerHTML = html;
    },
  };
  if (listNode) {
    listNode.addEventListener("scroll", () => list.render());
    listNode.addEventListener("click", (ev) => { const it = ev.target.closest(".item"); if (it) open(Number(it.dataset.i)); });
  }
  window.addEventListener("resize", () => list.render());

  // ---- reader ----
  const readerNode = $("#reader");
  function chips(items, cls) { return `<span class="chips">${items.map((x) => `<span class="chip ${cls || ""}">${x}</span>`).join("")}</span>`; }
  function kv(obj) {
    const rows = Object.entries(obj || {}).filter(([, v]) => v != null && v !== "" && !(Array.isArray(v) && !v.length));
    return `<dl class="kv">${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${typeof v === "object" ? esc(Object.entries(v).map(([a, b]) => `${a.replace(/_/g, " ")} ${b}`).join(", ")) : esc(v)}</dd>`).join("")}</dl>`;
  }
  // word-level diff of clean → sent: ["=", text] | ["-", text] | ["+", text] (LCS)
  const TOKEN = /\s+|[\p{L}\p{N}_]+|[^\p{L}\p{N}_\s]/gu;
  function wordDiff(clean, sent) {
    const a = clean.match(TOKEN) || [], b = sent.match(TOKEN) || [];
    const n = a.length, m = b.length, w = m + 1;
    const L = new Uint16Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--)
      L[i * w + j] = a[i] === b[j] ? L[(i + 1) * w + j + 1] + 1 : Math.max(L[(i + 1) * w + j], L[i * w + j + 1]);
    const out = [];
    const push = (op, t) => { const last = out[out.length - 1]; if (last && last[0] === op) last[1] += t; else out.push([op, t]); };
    let i = 0, j = 0;
    while (i < n && j < m) {
      if (a[i] === b[j]) { push("=", a[i]); i++; j++; }
      else if (L[(i + 1) * w + j] >= L[i * w + j + 1]) push("-", a[i++]);
      else push("+", b[j++]);
    }
    while (i < n) push("-", a[i++]);
    while (j < m) push("+", b[j++]);
    return out;
  }
  function diffHtml(diff, side) {
    return diff.map(([op, text]) => op === "=" ? esc(text) : op === side ? (side === "+" ? `<ins>${esc(text)}</ins>` : `<del>${esc(text)}</del>`) : "").join("");
  }
  function stateHtml(st) {
    const out = [];
    for (const [svc, slots] of Object.entries(st)) {
      if (slots && typeof slots === "object") for (const [k, v] of Object.entries(slots)) out.push(`<b>${esc(svc)}</b> ${esc(k.replace(/_/g, " "))} = ${esc(v)}`);
      else out.push(`${esc(svc)} = ${esc(slots)}`);
    }
    return out.length ? `<div class="who">dialogue state ${chips(out, "state")}</div>` : "";
  }
  function turnHtml(t, k) {
    let user = "";
    if (t.user != null) {
      const who = ["User", t.user_emotion ? `<span class="chip emo">${esc(t.user_emotion)}</span>` : "",
        t.intent ? `<span class="chip int">intent: ${esc(t.intent)}</span>` : "", t.note ? `<span class="chip">${esc(t.note)}</span>` : ""].join(" ");
      let body = esc(t.user);
      if (t.clean != null) {
        const nz = t.noise || {};
        t.diff = t.diff || wordDiff(t.clean, t.user);
        body = `<div class="noise"><div><div class="cap">sent (noised${nz.type ? ": " + esc(nz.type) : ""})</div>${diffHtml(t.diff, "+")}</div>` +
          `<div><div class="cap">clean text</div>${diffHtml(t.diff, "-")}</div></div>` +
          (nz.strategies && nz.strategies.length ? `<div class="who">edits: ${chips(nz.strategies.map(esc))}</div>` : "");
      }
      user = `<div class="msg u"><div class="who">${who}</div>${body}${t.state ? stateHtml(t.state) : ""}</div>`;
    }
    let asst = "";
    if (t.assistant != null) {
      const who = ["Assistant", t.assistant_emotion ? `<span class="chip aemo">${esc(t.assistant_emotion)}</span>` : ""].join(" ");
      asst = `<div class="msg a"><div class="who">${who}</div>${esc(t.assistant)}</div>`;
    }
    return `<div class="turn"><div class="n">${k + 1}</div><div>${user}${asst}</div></div>`;
  }
  function render(e) {
    const p = e.persona || {}; const sc = e.scenario || {}; const m = e.meta || {}; const q = e.quality || {};
    let h = `<h3><span class="st ${esc(e.status)}">${esc(e.status)}</span><span class="mono">${esc(e.id)}</span>`;
    if (q.overall != null) h += ` <span class="chip">judge ${q.overall.toFixed(2)} / 5</span>`;
    h += `</h3>`;
    if (e.status !== "Accepted") {
      h += `<div class="why"><b>${esc(e.status)}: ${esc(e.reason)}</b>`;
      if (e.reason_text && e.reason_text !== e.reason) h += ` <span class="mono">${esc(e.reason_text)}</span>`;
      if (e.error) h += `<div>${esc(e.error)}</div>`;
      if (e.nearest_id) h += `<div>nearest accepted record: <a href="#" data-goto="${esc(e.nearest_id)}" class="mono">${esc(e.nearest_id)}</a>${e.similarity != null ? `, similarity ${Number(e.similarity).toFixed(3)}` : ""}</div>`;
      if (e.attempts) h += `<div>attempts: ${esc(e.attempts)}</div>`;
      h += `</div>`;
    }
    if (q.scores && Object.keys(q.scores).length) {
      h += `<div class="box"><h4>Judge scores${q.judge_model || q.model ? " · " + esc(q.judge_model || q.model) : ""}</h4>${chips(Object.entries(q.scores).map(([k, v]) => `<b>${esc(k.replace(/_/g, " "))}</b> ${v}`))}${q.rationale ? `<div>${esc(q.rationale)}</div>` : ""}</div>`;
    } else {
      h += `<p class="sub">Judge: not judged</p>`;
    }
    const feats = Object.entries(p.features || {}).map(([k, v]) => `<b>${esc(k.replace(/_/g, " "))}</b> ${esc(v)}`);
    const scen = {};
    if (sc.category) scen["category"] = sc.category.replace(/_/g, " ");
    if (sc.services && sc.services.length) scen["services"] = sc.services.join(", ");
    if (sc.regions && sc.regions.length) scen["region"] = sc.regions.join(", ");
    if (sc.time) scen["time"] = sc.time;
    if (sc.resolution) scen["resolution"] = sc.resolution;
    h += `<div class="boxes"><div class="box"><h4>Persona</h4>${p.id ? `<div class="mono">${esc(p.id)}</div>` : ""}${p.text ? `<div>${esc(p.text)}</div>` : ""}${feats.length ? chips(feats) : ""}${!p.id && !p.text && !feats.length ? '<span class="muted">not recorded</span>' : ""}</div>`;
    h += `<div class="box"><h4>${e.pipeline === "interaction" ? "Query" : "Scenario"}</h4>${kv(scen)}${sc.text ? `<div>${esc(sc.text)}</div>` : ""}`;
    const arcs = e.arcs || {};
    if ((arcs.user || []).length || (arcs.assistant || []).length) {
      h += `<div class="arcs"><span>user emotions</span>${chips((arcs.user || []).map(esc), "emo")}<span>assistant emotions</span>${chips((arcs.assistant || []).map(esc), "aemo")}</div>`;
    }
    h += `</div></div>`;
    const turns = e.turns || [];
    h += turns.length ? turns.map(turnHtml).join("") : `<p class="muted">No conversation text was kept for this entry.</p>`;
    const meta = { model: m.model, attempts: m.attempts, "why it ended": m.end_reason ? m.end_reason.replace(/_/g, " ") : null,
      "planned turns": m.target_turns, "base dialogue": m.base_dialogue, distractor: m.distractor, sampling: m.sampling, created: m.created_at };
    h += `<div class="box"><h4>Generation</h4>${kv(meta)}</div>`;
    if (e.raw) h += `<details><summary>raw model answer</summary><pre class="raw">${esc(e.raw)}</pre></details>`;
    return h;
  }
  async function open(i) {
    if (!readerNode || i < 0 || i >= n) return;
    selected = i; list.render();
    readerNode.innerHTML = `<p class="empty">opening ${esc(cols.id[i])}…</p>`;
    const e = await entry(i);
    if (selected !== i) return;
    readerNode.innerHTML = render(e);
    readerNode.scrollTop = 0;
    history.replaceState(null, "", "#conversations/" + encodeURIComponent(cols.id[i]));
  }
  if (readerNode) readerNode.addEventListener("click", (ev) => {
    const a = ev.target.closest("a[data-goto]"); if (!a) return; ev.preventDefault();
    const i = byId.get(a.dataset.goto); if (i != null) open(i);
  });

  // ---- start ----
  buildFilters();
  apply();
  const [start, linked] = (location.hash || "#overview").slice(1).split("/");
  showTab(document.getElementById(start) ? start : "overview");
  if (linked && byId.has(decodeURIComponent(linked))) open(byId.get(decodeURIComponent(linked)));
  // arrow keys step through the list while no form field has the focus
  document.addEventListener("keydown", (ev) => {
    if (!$("#conversations.on") || ev.target.closest("input, select, textarea")) return;
    if (ev.key !== "ArrowDown" && ev.key !== "ArrowUp") return;
    const k = matches.indexOf(selected) + (ev.key === "ArrowDown" ? 1 : -1);
    if (k < 0 || k >= matches.length) return;
    ev.preventDefault();
    open(matches[k]);
    listNode.scrollTop = Math.max(0, k * ROW - listNode.clientHeight / 2);
  });
  // a small handle for tests and for people at the console
  window.agViewer = {
    count: n,
    filtered: () => matches.map((i) => cols.id[i]),
    setFacet(key, value) {
      const col = cols[key]; const sel = filterBox.querySelector(`select[data-facet="${key}"]`);
      const k = col.values.indexOf(value); if (!sel || k < 0) throw new Error("no such filter value: " + key + "=" + value);
      sel.value = String(k); onFilterInput(); return matches.length;
    },
    clear() {
      filterBox.querySelectorAll("select").forEach((el) => { el.value = ""; });
      filterBox.querySelectorAll("input").forEach((el) => { el.value = ""; });
      onFilterInput(); return matches.length;
    },
    open: (id) => open(byId.get(id)),
    searchReady: () => textPromise || Promise.resolve(),
    showTab,
  };
  window.agReadyAt = performance.now();
  document.documentElement.dataset.ready = "1";
})();
