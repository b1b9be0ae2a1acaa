// The sketchsearch drawing page: records strokes (x, y, t) with pointer events, sends them as a
// FRAME_RAW drawing to the server's HTTP/JSON API (POST /v1/classify, /v1/search) while you draw,
// and shows the top-5 guesses and the nearest indexed sketches. No framework, no build step.
"use strict";

const CLASSIFY_K = 5;
const SEARCH_K = 12;
const DEBOUNCE_MS = 150;
const TIMEOUT_MS = 10000;

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const errorBox = document.getElementById("error");
const guessList = document.getElementById("guesses");
const hitGrid = document.getElementById("hits");
const filter = document.getElementById("filter");
const queryLabel = document.getElementById("query");

// The drawing: strokes of {x: [], y: [], t: []} in CSS pixels of the canvas and milliseconds
// since its first point.
const strokes = [];
let current = null;  // the stroke being drawn
let startTime = null;
let hasDrawings = false;
let debounce = null;
let generation = 0;  // bumped on every change of the query; stale answers are dropped

// Bearer token, if the server needs one: open the page as /#token=...
const token = new URLSearchParams(location.hash.slice(1)).get("token");

// What tests read: the generation asked for and the last one fully answered.
function setState(answered) {
  document.body.dataset.generation = String(generation);
  if (answered !== undefined) document.body.dataset.answered = String(answered);
}

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json", "X-Request-Timeout-Ms": String(TIMEOUT_MS) };
  if (token) headers.Authorization = "Bearer " + token;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body && JSON.stringify(body) });
  } catch (e) {
    throw new Error("the server cannot be reached (" + e.message + ")");
  }
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* not JSON: reported below */ }
  if (!response.ok) {
    const error = json && json.error;
    const err = new Error(error ? error.code + ": " + error.message
                                : "HTTP " + response.status + " " + response.statusText);
    err.code = error && error.code;
    if (response.status === 401) err.message += " (open the page as /#token=YOUR_TOKEN)";
    throw err;
  }
  if (json === null) throw new Error("the server answered something that is not JSON");
  return json;
}

function showError(message) {
  errorBox.textContent = message || "";
  errorBox.hidden = !message;
}

// ---- drawing ----

function resizeCanvas() {
  const rect = pad.getBoundingClientRect();
  const ratio = window.devicePixelRatio || 1;
  pad.width = Math.round(rect.width * ratio);
  pad.height = Math.round(rect.height * ratio);
  redraw();
}

function strokePath(context, stroke, scale, dx, dy) {
  context.beginPath();
  context.moveTo(stroke.x[0] * scale + dx, stroke.y[0] * scale + dy);
  for (let i = 1; i < stroke.x.length; i++) {
    context.lineTo(stroke.x[i] * scale + dx, stroke.y[i] * scale + dy);
  }
  if (stroke.x.length === 1) context.lineTo(stroke.x[0] * scale + dx + 0.1, stroke.y[0] * scale + dy);
  context.stroke();
}

function redraw() {
  const ratio = pad.width / pad.getBoundingClientRect().width || 1;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, pad.width, pad.height);
  ctx.lineWidth = 3 * ratio;
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.strokeStyle = "#111";
  for (const stroke of strokes) strokePath(ctx, stroke, ratio, 0, 0);
}

function addPoint(event) {
  const rect = pad.getBoundingClientRect();
  if (startTime === null) startTime = event.timeStamp;
  // Two decimals: pointer positions can be fractional; more digits only lengthen the JSON.
  current.x.push(Math.round((event.clientX - rect.left) * 100) / 100);
  current.y.push(Math.round((event.clientY - rect.top) * 100) / 100);
  current.t.push(Math.max(0, Math.round(event.timeStamp - startTime)));
}

pad.addEventListener("pointerdown", (event) => {
  if (event.button !== 0) return;
  pad.setPointerCapture(event.pointerId);
  current = { x: [], y: [], t: [] };
  strokes.push(current);
  addPoint(event);
  redraw();
  event.preventDefault();
});

pad.addEventListener("pointermove", (event) => {
  if (current === null) return;
  // Every sample the device gave, not only one per frame (pens and fast strokes).
  const samples = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const sample of samples.length ? samples : [event]) addPoint(sample);
  redraw();
  scheduleUpdate();
});

function endStroke() {
  if (current === null) return;
  current = null;
  scheduleUpdate();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

function undo() {
  if (current !== null || strokes.length === 0) return;
  strokes.pop();
  redraw();
  scheduleUpdate();
}

function clearDrawing() {
  strokes.length = 0;
  current = null;
  startTime = null;
  redraw();
  scheduleUpdate();
}

document.getElementById("undo").addEventListener("click", undo);
document.getElementById("clear").addEventListener("click", clearDrawing);
filter.addEventListener("change", () => scheduleUpdate());
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
    undo();
    event.preventDefault();
  } else if (event.key === "Escape") {
    clearDrawing();
  }
});
window.addEventListener("resize", resizeCanvas);

// ---- asking the server ----

function drawingOf(list) {
  return { ink: { frame: "FRAME_RAW", strokes: list.map((s) => ({ x: s.x, y: s.y, t: s.t })) } };
}

function scheduleUpdate() {
  generation++;
  setState();
  clearTimeout(debounce);
  debounce = setTimeout(() => update(generation, drawingOf(strokes), "your drawing"), DEBOUNCE_MS);
}

async function update(asked, drawing, label) {
  if (drawing.ink && drawing.ink.strokes.length === 0) {
    guessList.replaceChildren();
    hitGrid.replaceChildren();
    queryLabel.textContent = "";
    showError("");
    setState(asked);
    return;
  }
  const search = { drawing, k: SEARCH_K, includeDrawings: hasDrawings };
  if (filter.value) search.classes = [filter.value];
  try {
    const [guesses, found] = await Promise.all([
      api("POST", "/v1/classify", { drawing, k: CLASSIFY_K }),
      api("POST", "/v1/search", search),
    ]);
    if (asked !== generation) return;
    showGuesses(guesses.classes || []);
    showHits(found.hits || []);
    queryLabel.textContent = "(like " + label + ")";
    showError("");
  } catch (e) {
    if (asked !== generation) return;
    showError(e.message);
  }
  setState(asked);
}

function showGuesses(classes) {
  guessList.replaceChildren(...classes.map((c) => {
    const item = document.createElement("li");
    item.dataset.word = c.word;
    item.dataset.probability = String(c.probability);
    const label = document.createElement("div");
    label.className = "guess-label";
    const word = document.createElement("span");
    word.textContent = c.word;
    const percent = document.createElement("span");
    percent.textContent = (100 * c.probability).toFixed(1) + " %";
    label.append(word, percent);
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.style.width = (100 * c.probability).toFixed(1) + "%";
    item.append(label, bar);
    return item;
  }));
}

// A thumbnail of an indexed drawing's strokes, fitted to a square canvas.
function thumbnail(drawing) {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 128;
  const c = canvas.getContext("2d");
  const list = drawing.ink.strokes;
  const xs = list.flatMap((s) => s.x || []), ys = list.flatMap((s) => s.y || []);
  const minX = Math.min(...xs), minY = Math.min(...ys);
  const size = Math.max(Math.max(...xs) - minX, Math.max(...ys) - minY, 1);
  const scale = 112 / size;
  c.lineWidth = 2;
  c.lineCap = c.lineJoin = "round";
  for (const s of list) {
    strokePath(c, { x: s.x || [], y: s.y || [] }, scale, 8 - minX * scale, 8 - minY * scale);
  }
  return canvas;
}

function showHits(hits) {
  hitGrid.replaceChildren(...hits.map((hit) => {
    const card = document.createElement("button");
    card.type = "button";
    card.className = "hit";
    card.dataset.word = hit.word;
    card.dataset.keyId = hit.keyId;
    const hasInk = hit.drawing && hit.drawing.ink && (hit.drawing.ink.strokes || []).length > 0;
    if (hasInk) {
      card.append(thumbnail(hit.drawing));
      card.title = "search with this drawing";
      card.addEventListener("click", () => {
        generation++;
        setState();
        update(generation, hit.drawing, hit.word + " #" + hit.keyId);
      });
    } else {
      const box = document.createElement("div");
      box.className = "card";
      box.textContent = hit.word;
      card.append(box);
      card.title = "this bundle stores no drawings";
    }
    const word = document.createElement("strong");
    word.textContent = hit.word;
    const details = document.createElement("div");
    details.className = "details";
    details.textContent = "#" + hit.keyId + " · d=" + Number(hit.distance).toPrecision(3);
    card.append(word, details);
    return card;
  }));
}

async function start() {
  resizeCanvas();
  setState(0);
  try {
    const info = await api("GET", "/v1/info");
    hasDrawings = Boolean(info.index && info.index.hasDrawings);
    const words = (info.index && info.index.words && info.index.words.length)
      ? info.index.words : info.classes;
    for (const word of [...words].sort()) {
      const option = document.createElement("option");
      option.value = option.textContent = word;
      filter.append(option);
    }
    document.getElementById("model").textContent =
      info.architecture + ", " + info.classes.length + " classes, " + info.indexSize +
      " sketches indexed" + (hasDrawings ? "" : " (no drawings stored: results show words)");
  } catch (e) {
    document.getElementById("model").textContent = "not connected";
    showError(e.message);
  }
}

// For tests: the strokes of the drawing.
window.sketchsearchStrokes = () => strokes.length;

start();
