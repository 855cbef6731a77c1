"use strict";

// Every server value reaches the DOM through textContent, text nodes or setAttribute.
// The one innerHTML assignment is Prism.highlight's output, which escapes its input.
(() => {
  const TOKEN_MESSAGE = "This server needs a token: open the link with ?token=...";
  const PALETTE = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948",
    "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#2f6d8c", "#8cd17d",
  ];
  const STAGES = {
    decode: (r) => (r ? `decoding (round ${r})` : "decoding"),
    check: () => "checking",
    dry_run: () => "dry run",
    repair: (r) => (r ? `repair round ${r}` : "repairing"),
  };

  const byId = (id) => document.getElementById(id);
  const ui = {
    form: byId("search-form"), source: byId("source"), question: byId("question"),
    examples: byId("examples"), model: byId("model-name"),
    schemaFilter: byId("schema-filter"), schema: byId("schema"), history: byId("history"),
    error: byId("error"), progress: byId("progress"),
    querySection: byId("query-section"), header: byId("result-header"),
    queryCode: byId("query-code"), overlay: byId("query-overlay"),
    edit: byId("edit"), confirm: byId("confirm"),
    editorBox: byId("editor"), editor: byId("query-editor"),
    runEdited: byId("run-edited"), cancelEdit: byId("cancel-edit"),
    examplesUsed: byId("examples-used"),
    diagSection: byId("diagnostics-section"), diagnostics: byId("diagnostics"),
    roundsSection: byId("rounds-section"), rounds: byId("rounds"),
    resultsSection: byId("results-section"), resultsMeta: byId("results-meta"),
    dryError: byId("dry-error"), table: byId("results-table"), downloadCsv: byId("download-csv"),
    graphSection: byId("graph-section"), graph: byId("graph"),
    legend: byId("graph-legend"), nodeDetails: byId("node-details"),
  };

  const state = {
    info: null, sources: new Map(), source: null, resultSource: null, result: null,
    schemas: new Map(), schemaEntries: [], streamCtl: null, expandCtl: null, cy: null, layout: null,
    table: { columns: [], rows: [], sortCol: -1, sortDir: 1 },
  };

  // ---- DOM helpers -------------------------------------------------------

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      node.setAttribute(name, value === true ? "" : String(value));
    }
    fill(node, children || [], true);
    return node;
  }

  function fill(node, children, append) {
    const kept = children.filter(Boolean).map((c) => (c instanceof Node ? c : String(c)));
    if (append) node.append(...kept);
    else node.replaceChildren(...kept);
    return node;
  }

  function cellText(value) {
    if (value === null || value === undefined) return "null";
    if (typeof value === "object") {
      try { return JSON.stringify(value); } catch (_) { return String(value); }
    }
    return String(value);
  }

  function ms(value) {
    if (typeof value !== "number" || !isFinite(value)) return "–";
    return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(1)} s`;
  }

  function severityClass(severity) {
    return severity === "error" || severity === "warning" ? severity : "info";
  }

  // ---- status: progress and errors ---------------------------------------

  function setProgress(name, text) {
    ui.progress.dataset.state = name;
    ui.progress.textContent = text;
  }

  function showError(err, hint) {
    const message = typeof err === "string" ? err : err.message || String(err);
    const detail = typeof err === "string" ? hint : err.hint;
    fill(ui.error, [
      el("strong", {}, [message]),
      detail && el("span", { class: "hint" }, [detail]),
    ]);
    ui.error.hidden = false;
  }

  function clearError() {
    ui.error.hidden = true;
    ui.error.replaceChildren();
  }

  // ---- API ---------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, hint, status) {
      super(message);
      this.hint = hint || "";
      this.status = status || 0;
    }
  }

  function retryAfterSeconds(res) {
    const raw = (res.headers.get("Retry-After") || "").trim();
    if (/^\d+$/.test(raw)) return Number(raw);
    const when = Date.parse(raw);
    return isNaN(when) ? null : Math.max(0, Math.ceil((when - Date.now()) / 1000));
  }

  async function errorFrom(res) {
    const body = await res.json().catch(() => ({}));
    const error = typeof body.error === "string" ? body.error : "";
    const hint = typeof body.hint === "string" ? body.hint : "";
    if (res.status === 401) return new ApiError(TOKEN_MESSAGE, "", 401);
    if (res.status === 503 || res.status === 429) {
      const wait = retryAfterSeconds(res);
      const lead = res.status === 503 ? "The server is busy" : "Too many requests";
      if (wait === null) return new ApiError(`${lead}; try again shortly`, [error, hint].filter(Boolean).join(": "), res.status);
      return new ApiError(`${lead}; try again in ${wait} s`, "", res.status);
    }
    return new ApiError(error || `Request failed (${res.status} ${res.statusText})`, hint, res.status);
  }

  async function api(path, body, controller) {
    const init = { headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (controller) init.signal = controller.signal;
    if (body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError("Cannot reach the server", err.message);
    }
    if (!res.ok) throw await errorFrom(res);
    return res;
  }

  async function getJSON(path, body, controller) {
    return (await api(path, body, controller)).json();
  }

  async function readLines(res, onLine) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n")) >= 0) {
        onLine(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 1);
      }
    }
    onLine(buffer + decoder.decode());
  }

  function stopWork() {
    for (const key of ["streamCtl", "expandCtl"]) {
      if (state[key]) state[key].abort();
      state[key] = null;
    }
  }

  async function stream(path, body, keepQuery) {
    stopWork();
    const ctl = new AbortController();
    state.streamCtl = ctl;
    clearError();
    if (!keepQuery) clearResultView(false);
    setProgress("running", "sending");
    let finished = false;
    try {
      const res = await api(path, body, ctl);
      if (keepQuery) clearResultView(true);
      await readLines(res, (line) => {
        if (ctl.signal.aborted || finished || !line.trim()) return;
        let event;
        try { event = JSON.parse(line); } catch (_) { throw new ApiError("The server sent a malformed answer", line.slice(0, 200)); }
        finished = handleEvent(event);
      });
      if (!finished && !ctl.signal.aborted) throw new ApiError("The connection closed before an answer arrived", "Try again.");
    } catch (err) {
      if (ctl.signal.aborted) return;
      showError(err);
      setProgress("failed", "failed");
      ctl.abort();
    } finally {
      if (state.streamCtl === ctl) state.streamCtl = null;
    }
  }

  function handleEvent(ev) {
    const stage = STAGES[ev.stage];
    if (ev.event === "queued") setProgress("queued", `queued (position ${ev.position})`);
    else if (ev.event === "started") setProgress("running", "started");
    else if (ev.event === "stage") setProgress("running", stage ? stage(ev.round) : String(ev.stage));
    else if (ev.event === "round") appendRound(ev.round);
    else if (ev.event === "result") {
      showResult(ev.result);
      setProgress("done", "done");
      loadHistory();
    } else if (ev.event === "error") {
      showError(ev.message || "The request failed", ev.hint);
      setProgress("failed", "failed");
    }
    return ev.event === "result" || ev.event === "error";
  }

  // ---- sources, examples, info -------------------------------------------

  async function loadInfo() {
    try {
      state.info = await getJSON("/api/info");
    } catch (err) {
      showError(err);
      return;
    }
    const sources = Array.isArray(state.info.sources) ? state.info.sources : [];
    sources.forEach((s) => state.sources.set(s.id, s));
    fill(ui.source, sources.map((s) => el("option", { value: s.id }, [`${s.label} (${s.target})`])));
    ui.source.hidden = sources.length <= 1;
    const max = state.info.limits && state.info.limits.max_question_chars;
    if (Number.isInteger(max) && max > 0) ui.question.maxLength = max;
    ui.model.textContent = state.info.model ? `model: ${state.info.model}` : "";
    if (sources.length) selectSource(sources[0].id);
  }

  function selectSource(id) {
    state.source = id;
    ui.source.value = id;
    renderExamples();
    loadSchema(id);
  }

  function renderExamples() {
    const source = state.sources.get(state.source);
    const examples = (source && source.examples) || [];
    fill(ui.examples, examples.map((text) => {
      const chip = el("button", { type: "button", class: "chip", "data-testid": "example" }, [text]);
      chip.addEventListener("click", () => {
        ui.question.value = text;
        ask();
      });
      return chip;
    }));
  }

  function ask() {
    const question = ui.question.value.trim();
    if (!question || !state.source) {
      ui.question.focus();
      return;
    }
    state.resultSource = state.source;
    stream("/api/ask", { question, source: state.source }, false);
  }

  // ---- schema browser ----------------------------------------------------

  async function loadSchema(source) {
    if (!state.schemas.has(source)) {
      fill(ui.schema, [el("p", { class: "muted" }, ["Loading schema…"])]);
      try {
        state.schemas.set(source, await getJSON(`/api/schema?source=${encodeURIComponent(source)}`));
      } catch (err) {
        if (source === state.source) fill(ui.schema, [el("p", { class: "muted" }, [`Schema unavailable: ${err.message}`])]);
        if (err.status === 401) showError(err);
        return;
      }
    }
    if (source !== state.source) return;
    renderSchema(state.schemas.get(source));
    applySchemaFilter();
  }

  function renderSchema(schema) {
    state.schemaEntries = [];
    const groups = schema.target === "sql" || schema.tables
      ? [["Tables", (schema.tables || []).map((t) => schemaItem(t.name, t.name, t.columns, []))]]
      : [
        ["Labels", (schema.labels || []).map((l) => schemaItem(l.name, `:${l.name}`, l.properties, []))],
        ["Relationships", (schema.relationships || []).map(relationshipItem)],
      ];
    fill(ui.schema, groups.filter(([, items]) => items.length).map(([title, items]) =>
      el("div", { class: "schema-group" }, [el("h3", {}, [title]), ...items])));
    if (!state.schemaEntries.length) fill(ui.schema, [el("p", { class: "muted" }, ["The schema is empty."])]);
  }

  function relationshipItem(rel) {
    const lines = (rel.endpoints || []).map(([from, to]) => `(:${from})-[:${rel.name}]->(:${to})`);
    return schemaItem(rel.name, `[:${rel.name}]`, rel.properties, lines);
  }

  function schemaItem(name, title, props, lines) {
    const propList = (props || []).map((p) => ({
      name: String(p.name),
      type: String(p.type || ""),
      node: el("li", {}, [el("span", { class: "prop-name" }, [p.name]), el("span", { class: "prop-type" }, [p.type])]),
    }));
    const node = el("details", { class: "schema-item", "data-testid": "schema-item", "data-name": name }, [
      el("summary", {}, [el("span", { class: "schema-name" }, [title]), el("span", { class: "count" }, [String(propList.length)])]),
      lines.length && el("ul", { class: "endpoints" }, lines.map((line) => el("li", {}, [line]))),
      el("ul", { class: "props" }, propList.map((p) => p.node)),
    ]);
    state.schemaEntries.push({ node, text: [name, ...lines].join(" ").toLowerCase(), props: propList, autoOpened: false });
    return node;
  }

  function applySchemaFilter() {
    const q = ui.schemaFilter.value.trim().toLowerCase();
    for (const entry of state.schemaEntries) {
      const nameHit = !q || entry.text.includes(q);
      let propHits = 0;
      for (const p of entry.props) {
        const hit = !!q && (p.name.toLowerCase().includes(q) || p.type.toLowerCase().includes(q));
        if (hit) propHits += 1;
        p.node.hidden = !nameHit && !hit;
      }
      entry.node.hidden = !nameHit && !propHits;
      if (q && propHits && !nameHit) {
        entry.node.open = true;
        entry.autoOpened = true;
      } else if (entry.autoOpened) {
        entry.node.open = false;
        entry.autoOpened = false;
      }
    }
    for (const group of ui.schema.querySelectorAll(".schema-group")) {
      group.hidden = !group.querySelector(".schema-item:not([hidden])");
    }
  }

  // ---- result ------------------------------------------------------------

  function clearResultView(keepQuery) {
    if (!keepQuery) {
      state.result = null;
      ui.querySection.hidden = true;
      ui.queryCode.replaceChildren();
      ui.overlay.replaceChildren();
      closeEditor();
    }
    for (const node of [ui.confirm, ui.diagSection, ui.roundsSection, ui.resultsSection]) node.hidden = true;
    for (const list of [ui.diagnostics, ui.rounds, ui.table]) list.replaceChildren();
    renderGraph(null);
  }

  function showResult(result) {
    state.result = result;
    if (result.source && state.sources.has(result.source)) state.resultSource = result.source;
    closeEditor();
    ui.querySection.hidden = false;
    renderHeader(result);
    renderQuery(result.query || "", result.target, result.diagnostics || []);
    renderConfirm(result);
    renderExamplesUsed(result.examples_used || []);
    renderDiagnostics(result.diagnostics || []);
    if (Array.isArray(result.rounds) && result.rounds.length) renderRounds(result.rounds);
    renderDryRun(result.dry_run);
    renderGraph(result.graph);
  }

  function renderHeader(r) {
    const timings = Object.entries(r.timings || {})
      .filter(([, v]) => typeof v === "number")
      .map(([k, v]) => `${k.replace(/_ms$/, "").replace(/_/g, " ")} ${ms(v)}`)
      .join(" · ");
    fill(ui.header, [
      el("span", { class: r.valid ? "badge ok" : "badge bad", "data-testid": "result-valid" }, [r.valid ? "valid" : "invalid"]),
      !!r.edited && el("span", { class: "badge edited", "data-testid": "result-edited" }, ["edited"]),
      el("span", { class: "muted" }, [[r.target, r.dialect].filter(Boolean).join(" · ")]),
      r.model && el("span", { class: "muted" }, [r.model]),
      timings && el("span", { class: "muted" }, [timings]),
      r.id !== undefined && r.id !== null && el("span", { class: "muted" }, [`#${r.id}`]),
    ]);
  }

  function renderQuery(text, target, diagnostics) {
    const lang = target === "cypher" ? "cypher" : "sql";
    const grammar = window.Prism && window.Prism.languages[lang];
    if (grammar) ui.queryCode.innerHTML = window.Prism.highlight(text, grammar, lang);
    else ui.queryCode.textContent = text;
    renderOverlay(text, diagnostics);
  }

  function diagnosticSpans(diagnostics, length) {
    const rank = { error: 0, warning: 1, info: 2 };
    return diagnostics
      .filter((d) => Number.isInteger(d.start) && Number.isInteger(d.end) && length > 0)
      .map((d) => {
        const start = Math.min(Math.max(d.start, 0), length - 1);
        return { start, end: Math.min(Math.max(d.end, start + 1), length), severity: severityClass(d.severity) };
      })
      .sort((a, b) => a.start - b.start || b.end - a.end || rank[a.severity] - rank[b.severity]);
  }

  function renderOverlay(text, diagnostics) {
    const chars = Array.from(text);
    const slice = (a, b) => chars.slice(a, b).join("");
    const root = { end: chars.length, pos: 0, node: document.createDocumentFragment() };
    const stack = [root];
    const close = () => {
      const top = stack.pop();
      if (top.pos < top.end) top.node.append(slice(top.pos, top.end));
      const parent = stack[stack.length - 1];
      if (!parent) return;
      parent.node.append(top.node);
      parent.pos = top.end;
    };
    for (const span of diagnosticSpans(diagnostics, chars.length)) {
      while (stack.length > 1 && stack[stack.length - 1].end <= span.start) close();
      const parent = stack[stack.length - 1];
      const start = Math.max(span.start, parent.pos);
      const end = Math.min(span.end, parent.end);
      if (start >= end) continue;
      if (start > parent.pos) parent.node.append(slice(parent.pos, start));
      parent.pos = start;
      const mark = el("mark", { class: `diag diag-${span.severity}`, "data-testid": "diag-span" });
      stack.push({ end, pos: start, node: mark });
    }
    while (stack.length) close();
    ui.overlay.replaceChildren(root.node);
  }

  function diagnosticItem(d, testid) {
    const where = d.line === null || d.line === undefined ? null
      : d.col === null || d.col === undefined ? `line ${d.line}` : `line ${d.line}, col ${d.col}`;
    return el("li", { class: `diag-item sev-${severityClass(d.severity)}`, "data-testid": testid, "data-severity": d.severity }, [
      el("span", { class: "sev" }, [d.severity]),
      el("code", { class: "diag-code" }, [d.code]),
      where && el("span", { class: "where" }, [where]),
      el("span", { class: "msg" }, [d.message]),
      d.hint && el("div", { class: "hint" }, [d.hint]),
    ]);
  }

  function renderDiagnostics(diagnostics) {
    ui.diagSection.hidden = !diagnostics.length;
    fill(ui.diagnostics, diagnostics.map((d) => diagnosticItem(d, "diagnostic")));
  }

  function renderExamplesUsed(examples) {
    ui.examplesUsed.hidden = !examples.length;
    fill(ui.examplesUsed, examples.length ? [
      el("h3", {}, [`Confirmed examples given to the model (${examples.length})`]),
      el("ul", {}, examples.map((x) => el("li", {}, [
        el("div", { class: "ex-question" }, [x.question]),
        el("pre", { class: "ex-query" }, [x.query]),
      ]))),
    ] : []);
  }

  // ---- confirm and edit --------------------------------------------------

  function setConfirmed(on) {
    ui.confirm.disabled = on;
    ui.confirm.textContent = on ? "Confirmed ✓" : "This answer is right";
    if (on) ui.confirm.setAttribute("data-confirmed", "true");
    else ui.confirm.removeAttribute("data-confirmed");
  }

  function renderConfirm(r) {
    ui.confirm.hidden = !r.valid || r.id === null || r.id === undefined;
    setConfirmed(!!r.confirmed);
  }

  async function confirmResult() {
    const r = state.result;
    if (!r || r.confirmed) return;
    ui.confirm.disabled = true;
    try {
      const answer = await getJSON("/api/confirm", { id: r.id });
      if (!answer.ok) throw new ApiError("The server did not record the confirmation");
      r.confirmed = true;
      if (state.result === r) setConfirmed(true);
      loadHistory();
    } catch (err) {
      if (state.result === r) ui.confirm.disabled = false;
      showError(err);
    }
  }

  function openEditor() {
    ui.editor.value = state.result ? state.result.query || "" : "";
    ui.editorBox.hidden = false;
    ui.editor.focus();
  }

  const closeEditor = () => { ui.editorBox.hidden = true; };

  function runEdited() {
    const query = ui.editor.value;
    if (!query.trim()) {
      ui.editor.focus();
      return;
    }
    const question = state.result ? state.result.question || "" : ui.question.value.trim();
    state.resultSource = state.resultSource || state.source;
    stream("/api/run", { query, source: state.resultSource, question }, true);
  }

  // ---- repair trace ------------------------------------------------------

  function roundNode(r) {
    const times = [`decode ${ms(r.decode_ms)}`, `check ${ms(r.check_ms)}`,
      r.dry_run && `dry run ${ms(r.dry_run.elapsed_ms)}`].filter(Boolean).join(" · ");
    const diagnostics = r.diagnostics || [];
    return el("details", { class: "round", "data-testid": "round", "data-kind": r.kind, "data-valid": String(!!r.valid) }, [
      el("summary", {}, [
        el("span", { class: "round-title" }, [`${r.kind} #${r.index}`]),
        el("span", { class: r.valid ? "badge ok" : "badge bad" }, [r.valid ? "valid" : "invalid"]),
        el("span", { class: "muted" }, [times]),
      ]),
      el("pre", { class: "round-query" }, [r.query || ""]),
      diagnostics.length && el("ul", { class: "diagnostics" }, diagnostics.map((d) => diagnosticItem(d, "round-diagnostic"))),
      r.dry_run && el("p", { class: "muted" }, [dryRunSummary(r.dry_run)]),
      r.raw_output && r.raw_output !== r.query && el("details", { class: "raw" }, [el("summary", {}, ["raw model output"]), el("pre", {}, [r.raw_output])]),
    ]);
  }

  function appendRound(r) {
    if (!r) return;
    ui.roundsSection.hidden = false;
    ui.rounds.append(roundNode(r));
  }

  function renderRounds(rounds) {
    ui.roundsSection.hidden = !rounds.length;
    fill(ui.rounds, rounds.map(roundNode));
  }

  // ---- dry-run results table ---------------------------------------------

  function dryRunSummary(dry) {
    const count = typeof dry.row_count === "number" ? dry.row_count : (dry.rows || []).length;
    return [dry.ok ? "dry run ok" : "dry run failed", dry.engine, modeText(dry.mode),
      dry.ok && `${count} row${count === 1 ? "" : "s"}`, ms(dry.elapsed_ms), !dry.ok && dry.error].filter(Boolean).join(" · ");
  }

  function modeText(mode) {
    return mode === "explain" ? "explain only (not executed)" : mode;
  }

  function renderDryRun(dry) {
    ui.resultsSection.hidden = !dry;
    ui.table.replaceChildren();
    if (!dry) return;
    const rows = Array.isArray(dry.rows) ? dry.rows : [];
    const count = typeof dry.row_count === "number" ? dry.row_count : rows.length;
    fill(ui.resultsMeta, [
      el("span", {}, [[dry.engine, modeText(dry.mode), ms(dry.elapsed_ms)].filter(Boolean).join(" · ")]),
      !!dry.ok && el("span", { "data-testid": "row-count" }, [`${count} row${count === 1 ? "" : "s"}`]),
      dry.ok && dry.capped && el("span", { class: "capped", "data-testid": "capped" }, [`capped: showing the first ${rows.length} rows`]),
    ]);
    ui.dryError.hidden = !!dry.ok;
    ui.dryError.textContent = dry.ok ? "" : dry.error || "The dry run failed.";
    ui.downloadCsv.hidden = !dry.ok || !(dry.columns || []).length;
    if (!dry.ok) return;
    state.table = { columns: (dry.columns || []).map(String), rows, sortCol: -1, sortDir: 1 };
    renderTable();
  }

  function cellValue(row, i) {
    return Array.isArray(row) ? row[i] : row && row[state.table.columns[i]];
  }

  function asNumber(v) {
    if (typeof v === "number") return v;
    if (typeof v === "string" && v.trim() !== "" && isFinite(Number(v))) return Number(v);
    return null;
  }

  function compareCells(a, b) {
    const na = asNumber(a);
    const nb = asNumber(b);
    if (na !== null && nb !== null) return na - nb;
    if (na !== null) return -1;
    if (nb !== null) return 1;
    return cellText(a).localeCompare(cellText(b), undefined, { numeric: true });
  }

  function sortedRows() {
    const { rows, sortCol, sortDir } = state.table;
    if (sortCol < 0) return rows;
    return rows.map((row, index) => ({ row, index })).sort((x, y) => {
      const a = cellValue(x.row, sortCol);
      const b = cellValue(y.row, sortCol);
      const aNull = a === null || a === undefined;
      const bNull = b === null || b === undefined;
      if (aNull || bNull) return aNull === bNull ? x.index - y.index : aNull ? 1 : -1;
      return compareCells(a, b) * sortDir || x.index - y.index;
    }).map((x) => x.row);
  }

  function cellNode(value) {
    const isNull = value === null || value === undefined;
    const kind = isNull ? "null" : typeof value === "object" ? "json" : typeof value;
    return el("td", { class: `cell-${kind}` }, [cellText(value)]);
  }

  function renderTable() {
    const { columns, sortCol, sortDir } = state.table;
    const head = el("tr", {}, columns.map((name, i) => el("th", {
      scope: "col",
      "data-col": i,
      "aria-sort": i === sortCol ? (sortDir > 0 ? "ascending" : "descending") : null,
      title: "Sort by this column",
    }, [name])));
    const body = sortedRows().map((row) => el("tr", {}, columns.map((_, i) => cellNode(cellValue(row, i)))));
    fill(ui.table, [el("thead", {}, [head]), el("tbody", {}, body)]);
  }

  function onTableClick(event) {
    const th = event.target.closest("th[data-col]");
    if (!th) return;
    const col = Number(th.getAttribute("data-col"));
    const t = state.table;
    t.sortDir = t.sortCol === col ? -t.sortDir : 1;
    t.sortCol = col;
    renderTable();
  }

  function csvField(value) {
    const text = value === null || value === undefined ? "" : cellText(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }

  function downloadCsv() {
    const { columns } = state.table;
    const lines = [columns, ...sortedRows().map((row) => columns.map((_, i) => cellValue(row, i)))];
    const csv = lines.map((line) => line.map(csvField).join(",")).join("\r\n") + "\r\n";
    const url = URL.createObjectURL(new Blob([csv], { type: "text/csv;charset=utf-8" }));
    const link = el("a", { href: url, download: "nl2q-result.csv", hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // ---- graph -------------------------------------------------------------

  const GRAPH_STYLE = [
    { selector: "node", style: {
      "background-color": "data(color)", label: "data(caption)", "font-size": 10, color: "#1f2328",
      "text-valign": "bottom", "text-margin-y": 3, width: 22, height: 22,
      "text-wrap": "ellipsis", "text-max-width": 120, "border-width": 1, "border-color": "#ffffff",
    } },
    { selector: "node:selected", style: { "border-width": 3, "border-color": "#1f2328" } },
    { selector: "node.expanding", style: { "border-width": 3, "border-color": "#f28e2b", "border-style": "dashed" } },
    { selector: "edge", style: {
      width: 1.2, "line-color": "#b4bcc6", "target-arrow-color": "#b4bcc6", "target-arrow-shape": "triangle",
      "curve-style": "bezier", label: "data(type)", "font-size": 8, color: "#57606a",
      "text-rotation": "autorotate", "text-background-color": "#ffffff", "text-background-opacity": 0.85,
      "text-background-padding": 1,
    } },
  ];

  const labelColors = new Map();
  function colorFor(label) {
    const key = String(label || "");
    if (!labelColors.has(key)) labelColors.set(key, PALETTE[labelColors.size % PALETTE.length]);
    return labelColors.get(key);
  }

  function destroyGraph() {
    if (state.layout) state.layout.stop();
    if (state.cy) state.cy.destroy();
    state.cy = null;
    state.layout = null;
    window.nl2qGraph = null;
    ui.legend.replaceChildren();
    fill(ui.nodeDetails, [el("p", { class: "muted" }, ["Click a node to see its properties and expand its neighbours."])]);
  }

  function renderGraph(graph) {
    destroyGraph();
    const hasNodes = !!graph && Array.isArray(graph.nodes) && graph.nodes.length > 0;
    ui.graphSection.hidden = !hasNodes;
    if (!hasNodes || typeof window.cytoscape !== "function") return;
    const cy = window.cytoscape({ container: ui.graph, style: GRAPH_STYLE, minZoom: 0.1, maxZoom: 4 });
    state.cy = cy;
    window.nl2qGraph = cy;
    cy.on("tap", "node", (event) => expandNode(event.target));
    mergeGraph(graph, null);
  }

  function mergeGraph(graph, near) {
    const cy = state.cy;
    const has = (id) => cy.getElementById(id).nonempty();
    const added = new Set();
    const elements = [];
    for (const n of graph.nodes || []) {
      const id = String(n.id);
      if (has(id) || added.has(id)) continue;
      added.add(id);
      const node = { group: "nodes", data: {
        id, label: String(n.label || ""), caption: String(n.caption || n.label || id),
        color: colorFor(n.label), props: n.properties || {},
      } };
      if (near) node.position = { x: near.x + (Math.random() - 0.5) * 80, y: near.y + (Math.random() - 0.5) * 80 };
      elements.push(node);
    }
    for (const e of graph.edges || []) {
      const id = `edge:${e.id}`;
      const source = String(e.source);
      const target = String(e.target);
      if (has(id) || added.has(id)) continue;
      if (!(has(source) || added.has(source)) || !(has(target) || added.has(target))) continue;
      added.add(id);
      elements.push({ group: "edges", data: { id, type: String(e.type || ""), source, target, props: e.properties || {} } });
    }
    if (elements.length) cy.add(elements);
    runLayout(!near);
    renderLegend();
    return elements.length;
  }

  function runLayout(randomize) {
    const cy = state.cy;
    const count = cy.nodes().length;
    const common = { fit: true, padding: 24, animate: false };
    const options = count <= 100 ? { name: "cose", randomize, ...common }
      : count <= 250 ? { name: "cose", randomize, numIter: 250, ...common }
        : { name: "breadthfirst", spacingFactor: 0.9, ...common };
    if (state.layout) state.layout.stop();
    state.layout = cy.layout(options);
    state.layout.run();
  }

  function renderLegend() {
    const counts = new Map();
    state.cy.nodes().forEach((n) => counts.set(n.data("label"), (counts.get(n.data("label")) || 0) + 1));
    fill(ui.legend, [...counts].sort((a, b) => a[0].localeCompare(b[0])).map(([label, n]) => {
      const swatch = el("span", { class: "swatch" });
      swatch.style.backgroundColor = colorFor(label);
      return el("li", {}, [swatch, `${label || "(no label)"} (${n})`]);
    }));
  }

  function showNodeDetails(data, status) {
    const rows = Object.entries(data.props || {}).map(([key, value]) =>
      el("tr", {}, [el("th", { scope: "row" }, [key]), el("td", {}, [cellText(value)])]));
    fill(ui.nodeDetails, [
      el("h3", {}, [data.caption]),
      el("p", { class: "muted" }, [`:${data.label} · id ${data.id}`]),
      rows.length ? el("table", { class: "props-table" }, [el("tbody", {}, rows)]) : el("p", { class: "muted" }, ["No properties."]),
      status && el("p", { class: "muted", "data-testid": "expand-status" }, [status]),
    ]);
  }

  async function expandNode(node) {
    const data = node.data();
    const cy = state.cy;
    showNodeDetails(data, "expanding…");
    if (state.expandCtl) state.expandCtl.abort();
    const ctl = new AbortController();
    state.expandCtl = ctl;
    node.addClass("expanding");
    try {
      const answer = await getJSON("/api/expand", {
        source: state.resultSource || state.source,
        node: { id: data.id, label: data.label, properties: data.props || {} },
      }, ctl);
      if (ctl.signal.aborted || state.cy !== cy) return;
      const added = answer.graph ? mergeGraph(answer.graph, node.position()) : 0;
      const problem = !answer.valid && (answer.diagnostics || [])[0];
      showNodeDetails(data, problem ? `expand failed: ${problem.message}` : `${added} new element${added === 1 ? "" : "s"}`);
    } catch (err) {
      if (ctl.signal.aborted) return;
      showNodeDetails(data, "expand failed");
      showError(err);
    } finally {
      if (state.cy === cy) node.removeClass("expanding");
      if (state.expandCtl === ctl) state.expandCtl = null;
    }
  }

  // ---- history -----------------------------------------------------------

  async function loadHistory() {
    try {
      const data = await getJSON("/api/history");
      renderHistory(Array.isArray(data.items) ? data.items : []);
    } catch (err) {
      fill(ui.history, [el("li", { class: "muted empty" }, [`History unavailable: ${err.message}`])]);
    }
  }

  function renderHistory(items) {
    if (!items.length) fill(ui.history, [el("li", { class: "muted empty" }, ["No questions yet."])]);
    else fill(ui.history, items.map((item) => {
      const li = el("li", { "data-testid": "history-item", "data-id": item.id, "data-valid": String(!!item.valid) }, [
        el("button", { type: "button", class: "history-btn", title: item.query || "" }, [
          el("span", { class: item.valid ? "marker valid" : "marker invalid", title: item.valid ? "valid" : "invalid", "aria-label": item.valid ? "valid" : "invalid" }, ["●"]),
          el("span", { class: "history-q" }, [item.question]),
          !!item.confirmed && el("span", { class: "confirmed-mark", title: "confirmed", "data-testid": "history-confirmed" }, ["✓"]),
          el("span", { class: "history-meta" }, [[item.source, item.created].filter(Boolean).join(" · ")]),
        ]),
      ]);
      li.addEventListener("click", () => openHistoryItem(item));
      return li;
    }));
  }

  async function openHistoryItem(item) {
    stopWork();
    clearError();
    try {
      const result = await getJSON(`/api/history/${encodeURIComponent(item.id)}`);
      if (item.source && item.source !== state.source && state.sources.has(item.source)) selectSource(item.source);
      state.resultSource = item.source || state.source;
      clearResultView(false);
      showResult(result);
      if (result.question) ui.question.value = result.question;
      setProgress("idle", `history #${item.id}`);
    } catch (err) {
      showError(err);
    }
  }

  // ---- wiring ------------------------------------------------------------

  function wire() {
    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      ask();
    });
    ui.source.addEventListener("change", () => selectSource(ui.source.value));
    ui.schemaFilter.addEventListener("input", applySchemaFilter);
    ui.edit.addEventListener("click", openEditor);
    ui.cancelEdit.addEventListener("click", closeEditor);
    ui.runEdited.addEventListener("click", runEdited);
    ui.editor.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) runEdited();
    });
    ui.confirm.addEventListener("click", confirmResult);
    ui.table.addEventListener("click", onTableClick);
    ui.downloadCsv.addEventListener("click", downloadCsv);
  }

  wire();
  setProgress("idle", "ready");
  window.nl2qGraph = null;
  loadInfo();
  loadHistory();
})();
