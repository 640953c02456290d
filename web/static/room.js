// The treatment room, live: follows the room's device over Server-Sent Events (/api/v1/devices/{id}/live), says
// its state in the page's own words, counts each step's time left, and draws the delivered current on a canvas.
// Every word shown comes from the page (<template id="room-words">) and every limit from the server (data-*):
// this script decides nothing, it only shows what the device reports.
(() => {
  "use strict";
  const room = document.getElementById("room");
  if (!room) return;
  const refused = document.getElementById("start-problem");
  if (refused) refused.focus(); // a refused start: its reasons first, wherever the form is on the page
  if (!window.EventSource) return;

  const WINDOW_MS = 60000; // the chart shows the last minute of the device's time
  const CAPACITY = 1200; // samples kept: two minutes at 10 a second, however long the page stays open
  const KEPT_TIMINGS = 600; // sample-to-chart delays kept for the tests and the soak bench
  const CLOSED_BEFORE_RELOAD = 3; // refused this often in a row (signed out, server gone): reload the page

  const $ = (selector) => room.querySelector(selector);
  const words = readWords(document.getElementById("room-words"));
  const pageSession = room.dataset.session || null;
  const mayGiveCurrent = new Set(room.dataset.mayGiveCurrent.split(" "));
  const unfinished = new Set(room.dataset.unfinished.split(" "));
  const steps = [...room.querySelectorAll("[data-live-step]")].map((row) => ({
    row,
    number: Number(row.dataset.number),
    label: row.dataset.label,
    current: Number(row.dataset.current),
    cap: Number(row.dataset.cap),
    durationMs: Number(row.dataset.durationMs),
    outputMs: 0,
    chargeUaMs: 0,
    peak: 0,
  }));
  const protocolSteps = Number(room.dataset.protocolSteps);
  const now = { device: null, live: true, session: null, contactLost: false, step: 0, lastId: 0, ended: false };
  const ring = {
    t: new Float64Array(CAPACITY),
    v: new Float32Array(CAPACITY),
    step: new Int16Array(CAPACITY),
    next: 0,
    size: 0,
  };
  const pending = []; // blocks arrived and not yet drawn
  const timings = []; // per block: when it arrived, when it was drawn
  const canvas = document.getElementById("current-chart");
  const colours = canvas ? chartColours(canvas) : null;
  let frame = 0;
  let source = null;
  let closedInARow = 0;

  window.galvaniRoom = { timings, take: () => timings.splice(0, timings.length) };
  connect(room.dataset.after);
  if (canvas) {
    window.addEventListener("resize", scheduleDraw);
    scheduleDraw();
  }

  function connect(after) {
    const base = room.dataset.liveUrl;
    source = new EventSource(after ? `${base}?after=${after}` : base);
    source.addEventListener("open", () => {
      closedInARow = 0;
      link("open");
    });
    source.addEventListener("error", () => {
      link("lost");
      if (source.readyState !== EventSource.CLOSED) return; // the browser tries again by itself
      closedInARow += 1;
      if (closedInARow >= CLOSED_BEFORE_RELOAD) {
        window.location.reload(); // signed out or the page is gone: the server says where to go
        return;
      }
      window.setTimeout(() => connect(now.lastId || room.dataset.after), 2000);
    });
    source.addEventListener("state", (e) => {
      const reported = JSON.parse(e.data);
      const before = now.device;
      now.device = reported.state;
      if (!pageSession && before && !mayGiveCurrent.has(before) && mayGiveCurrent.has(now.device)) {
        window.location.reload(); // armed from elsewhere (another tablet, the API): the page shows it, with Stop
        return;
      }
      now.live = reported.live !== false;
      showState();
      link("open");
    });
    source.addEventListener("session", (e) => onSession(JSON.parse(e.data)));
    source.addEventListener("telemetry", (e) => onTelemetry(JSON.parse(e.data)));
    source.addEventListener("event", (e) => onEvent(JSON.parse(e.data)));
  }

  function fresh(message) {
    // one message once: a reconnect goes on after the last id, and this guards the overlap
    if (message.session_id !== pageSession || message.id <= now.lastId) return false;
    now.lastId = message.id;
    return true;
  }

  function onSession(latest) {
    if (!pageSession) return;
    if (latest.session_id !== pageSession) {
      if (latest.session_id && unfinished.has(latest.status)) window.location.reload(); // a newer session began
      return;
    }
    now.session = latest.status;
    const said = $("[data-session-words]");
    if (said) said.textContent = words.session[latest.status] || "";
    if (!unfinished.has(latest.status)) ended();
    showState();
  }

  function onEvent(event) {
    if (!fresh(event)) return;
    if (event.type === "step_started" && event.step !== null) now.step = event.step;
    if (event.type === "contact_lost") now.contactLost = true;
    if (["contact_restored", "resumed", "started"].includes(event.type)) now.contactLost = false;
    if (words.confirmed[event.type]) confirm(event.type);
    showState();
    showSteps();
  }

  function onTelemetry(block) {
    if (!fresh(block) || !steps[block.step]) return;
    const step = steps[block.step];
    let peak = 0;
    block.current_ua.forEach((sample, i) => {
      const magnitude = Math.abs(sample); // current the other way is current through the skin too
      peak = Math.max(peak, magnitude);
      ring.t[ring.next] = block.t_ms + i * block.interval_ms;
      ring.v[ring.next] = magnitude;
      ring.step[ring.next] = block.step;
      ring.next = (ring.next + 1) % CAPACITY;
      ring.size = Math.min(ring.size + 1, CAPACITY);
      if (block.contact) {
        step.outputMs += block.interval_ms;
        step.chargeUaMs += magnitude * block.interval_ms;
        step.peak = Math.max(step.peak, magnitude);
      }
    });
    now.step = block.step;
    pending.push({
      id: block.id,
      seq: block.seq,
      step: block.step,
      peak,
      prescribed: step.current,
      received: Date.parse(block.received_at),
      arrived: Date.now(),
      arrivedAt: performance.now(),
    });
    if (pending.length > KEPT_TIMINGS) pending.shift(); // a hidden tab draws nothing: keep it bounded
    showSteps();
    scheduleDraw();
  }

  function confirm(type) {
    const clock = new Date().toLocaleTimeString("en-GB", { timeZone: room.dataset.timezone, hour12: false });
    const confirmed = $("[data-confirmed]");
    const said = document.getElementById("stop-said");
    if (said) said.textContent = "";
    if (confirmed) {
      confirmed.textContent = words.confirmed[type].replace("{time}", clock);
      confirmed.hidden = false;
      confirmed.classList.toggle("stop", type === "fault");
    }
    ended();
  }

  function ended() {
    if (now.ended) return;
    now.ended = true;
    const stepBox = $("[data-step-box]");
    if (stepBox) stepBox.hidden = true; // what was given is in the record below
    const record = document.getElementById("record");
    if (record) record.dispatchEvent(new CustomEvent("session-ended")); // htmx fetches the record
  }

  function showState() {
    const key = now.device === "paused" && now.contactLost ? "contact_lost" : now.device;
    const badge = words.states[key] || words.states.unknown;
    for (const box of room.querySelectorAll("[data-device-badge], [data-state-box]")) {
      box.className = box.className.replace(/\btone-[\w-]+/, `tone-${badge.tone}`);
      box.querySelector("[data-symbol]").textContent = badge.symbol;
      box.querySelector("[data-words]").textContent = badge.words;
    }
    const stop = $("[data-stop-form]");
    if (stop) stop.hidden = !(mayGiveCurrent.has(now.device) || unfinished.has(now.session));
  }

  function showSteps() {
    const step = steps[now.step];
    if (!step) return;
    steps.forEach((s, i) => {
      s.row.classList.toggle("done", i < now.step);
      s.row.classList.toggle("current", i === now.step);
      if (i === now.step) s.row.setAttribute("aria-current", "step");
      else s.row.removeAttribute("aria-current");
      s.row.querySelector("[data-given]").textContent = mmss(s.outputMs);
    });
    $("[data-step-now]").textContent = `Step ${step.number} of ${protocolSteps}: ${step.label}`;
    $("[data-step-left]").textContent = mmss(Math.max(0, step.durationMs - step.outputMs));
    const left = steps.slice(now.step).reduce((sum, s) => sum + Math.max(0, s.durationMs - s.outputMs), 0);
    $("[data-total-left]").textContent = mmss(left);
    $("[data-chart-text]").textContent = step.outputMs
      ? `Step ${step.number} so far: mean ${ua(step.chargeUaMs / step.outputMs)}, peak ${ua(step.peak)} ` +
        `(prescribed ${ua(step.current)}, cap ${ua(step.cap)}); ${mmss(step.outputMs)} given.`
      : `Step ${step.number}: no current delivered yet (prescribed ${ua(step.current)}, cap ${ua(step.cap)}).`;
  }

  function link(state) {
    // the stream is open but no gateway keeps the device's state current: say that what is shown is old
    const shown = state === "open" && !now.live ? "stale" : state;
    const said = $("[data-link-state]");
    if (said) {
      said.textContent = words.link[shown];
      said.classList.toggle("lost", shown !== "open");
    }
  }

  function scheduleDraw() {
    if (!frame) frame = window.requestAnimationFrame(draw);
  }

  function draw() {
    frame = 0;
    if (canvas) drawChart();
    const drawnAt = performance.now();
    const drawn = Date.now();
    for (const block of pending) timings.push({ ...block, drawn, delayMs: drawnAt - block.arrivedAt });
    pending.length = 0;
    if (timings.length > KEPT_TIMINGS) timings.splice(0, timings.length - KEPT_TIMINGS);
    if (canvas) canvas.dataset.drawnId = String(now.lastId);
  }

  function drawChart() {
    const box = canvas.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    const width = Math.round(box.width * ratio);
    const height = Math.round(box.height * ratio);
    if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, box.width, box.height);
    const plot = { left: 64, right: box.width - 12, top: 12, bottom: box.height - 30 };
    const order = samplesInOrder();
    const end = order.length ? ring.t[order[order.length - 1]] : WINDOW_MS;
    const start = end - WINDOW_MS;
    const shown = order.filter((i) => ring.t[i] >= start);
    const runs = stepRuns(shown, start, end);
    let top = 0;
    for (const run of runs) top = Math.max(top, run.step.cap || 0, run.step.current);
    for (const i of shown) top = Math.max(top, ring.v[i]);
    const yMax = niceCeiling(top * 1.12 || 100);
    const x = (t) => plot.left + ((t - start) / WINDOW_MS) * (plot.right - plot.left);
    const y = (v) => plot.bottom - (v / yMax) * (plot.bottom - plot.top);
    axes(ctx, plot, yMax, y);
    ctx.strokeStyle = colours.delivered;
    ctx.lineWidth = 3.5;
    ctx.setLineDash([]);
    ctx.beginPath();
    let previous = null;
    for (const i of shown) {
      const gap = previous === null || ring.t[i] - ring.t[previous] > 250; // no contact: no line across it
      if (gap) ctx.moveTo(x(ring.t[i]), y(ring.v[i]));
      else ctx.lineTo(x(ring.t[i]), y(ring.v[i]));
      previous = i;
    }
    ctx.stroke();
    for (const run of runs) {
      // over the delivered line, which lies on the prescribed one when all is well
      level(ctx, x(run.from), x(run.to), y(run.step.current), colours.prescribed, [8, 5]);
      if (run.step.cap) level(ctx, x(run.from), x(run.to), y(run.step.cap), colours.cap, [3, 4]);
    }
  }

  function samplesInOrder() {
    const first = (ring.next - ring.size + CAPACITY) % CAPACITY;
    return Array.from({ length: ring.size }, (_, k) => (first + k) % CAPACITY);
  }

  function stepRuns(shown, start, end) {
    // each step's stretch of the window, for its prescribed current and cap; the step under way reaches "now"
    const runs = [];
    for (const i of shown) {
      const last = runs[runs.length - 1];
      if (last && last.index === ring.step[i]) last.to = ring.t[i];
      else runs.push({ index: ring.step[i], step: steps[ring.step[i]], from: ring.t[i], to: ring.t[i] });
    }
    const current = steps[now.step];
    if (!runs.length && current) runs.push({ index: now.step, step: current, from: start, to: end });
    else if (runs.length) runs[runs.length - 1].to = end;
    return runs.filter((run) => run.step);
  }

  function axes(ctx, plot, yMax, y) {
    ctx.font = "13px system-ui, sans-serif";
    ctx.fillStyle = colours.text;
    ctx.strokeStyle = colours.grid;
    ctx.lineWidth = 1;
    ctx.setLineDash([]);
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    const tick = yMax / 4;
    for (let v = 0; v <= yMax + 0.001; v += tick) {
      ctx.beginPath();
      ctx.moveTo(plot.left, y(v));
      ctx.lineTo(plot.right, y(v));
      ctx.stroke();
      ctx.fillText(`${Math.round(v)} µA`, plot.left - 6, y(v));
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (let s = 0; s <= 60; s += 15) {
      const at = plot.left + ((60 - s) / 60) * (plot.right - plot.left);
      ctx.fillText(s ? `−${s} s` : "now", Math.min(at, plot.right - 14), plot.bottom + 8);
    }
  }

  function level(ctx, from, to, at, colour, dash) {
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2;
    ctx.setLineDash(dash);
    ctx.beginPath();
    ctx.moveTo(from, at);
    ctx.lineTo(to, at);
    ctx.stroke();
  }

  function niceCeiling(value) {
    const magnitude = 10 ** Math.floor(Math.log10(value));
    const nice = [1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6, 8, 10].find((n) => n * magnitude >= value);
    return nice * magnitude;
  }

  function chartColours(element) {
    const style = getComputedStyle(element);
    const named = (name) => style.getPropertyValue(name).trim();
    return {
      delivered: named("--chart-delivered"),
      prescribed: named("--chart-prescribed"),
      cap: named("--chart-cap"),
      grid: named("--chart-grid"),
      text: named("--chart-text"),
    };
  }

  function readWords(template) {
    const found = { states: {}, session: {}, confirmed: {}, link: {} };
    for (const span of template.content.querySelectorAll("span")) {
      const d = span.dataset;
      if (d.state) found.states[d.state] = { words: span.textContent, tone: d.tone, symbol: d.symbol };
      else if (d.session) found.session[d.session] = span.textContent;
      else if (d.confirmed) found.confirmed[d.confirmed] = span.textContent;
      else if (d.link) found.link[d.link] = span.textContent;
    }
    return found;
  }

  function mmss(ms) {
    const seconds = Math.round(ms / 1000);
    return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  }

  function ua(value) {
    return `${value.toFixed(1)} µA`;
  }
})();
