// The kiosk screen of `edge live --ui`: captions, state ring, push-to-talk, language picker.
// One WebSocket to /ws (protocol: edge/ui/server.py); it reconnects with backoff, so the page
// survives a restarted session. No dependencies, no build step.
"use strict";

const STATE_LABELS = {
  idle: "Ready",
  listening: "Listening…",
  thinking: "Thinking…",
  speaking: "Speaking…",
  error: "Device problem",
};
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;

// What tests (and a curious operator in DevTools) can read.
const kiosk = (window.kiosk = {
  connected: false,
  connects: 0,
  status: {},
  events: [],
  utterances: new Map(),
  held: false,
});

let socket = null;
let retryMs = RETRY_MIN_MS;
const body = document.body;
const pairSelect = document.getElementById("pair");
const notice = document.getElementById("notice");
const toast = document.getElementById("toast");
const sides = [...document.querySelectorAll(".side")];

// --- connection --------------------------------------------------------------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + "/ws");
  socket.onopen = () => {
    retryMs = RETRY_MIN_MS;
    kiosk.connected = true;
    kiosk.connects += 1;
    body.classList.remove("offline");
    if (kiosk.held) send({ type: "press" }); // held through a reconnect: say so again
  };
  socket.onmessage = (message) => receive(JSON.parse(message.data));
  socket.onclose = () => {
    kiosk.connected = false;
    body.classList.add("offline");
    // The server lets go of a press when the page goes away; the button must show it.
    activePointers.clear();
    setHeld(false);
    if (leaving) return;
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  };
}

function send(command) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(command));
}

// --- events ------------------------------------------------------------------------------

function receive(event) {
  kiosk.events.push(event.event);
  switch (event.event) {
    case "hello":
      kiosk.status = event;
      kiosk.utterances.clear();
      sides.forEach((side) => (side.querySelector(".captions").textContent = ""));
      setMode(event.mode);
      setPairs(event.pairs, event.language_pair);
      setState(event.state);
      if (event.fault) showNotice(event.fault);
      else hideNotice();
      setHandheld(event.handheld);
      event.history.forEach(caption);
      break;
    case "state":
      setState(event.state);
      if (event.state !== "error") hideNotice();
      break;
    case "session_start":
      setMode(event.mode);
      selectPair(event.language_pair);
      break;
    case "language_pair":
      kiosk.status.language_pair = event.pair;
      selectPair(event.pair);
      renderAll();
      break;
    case "handheld":
      setHandheld(event);
      break;
    case "error":
      if (event.stage === "device") showNotice(event.message);
      else showToast(event.message);
      break;
    default:
      caption(event);
  }
}

function caption(event) {
  const id = event.utterance_id;
  if (id === undefined || id === null) return;
  let u = kiosk.utterances.get(id);
  switch (event.event) {
    case "partial":
    case "transcript":
    case "rejected":
      u = u || newUtterance(id);
      if (u.final && event.event === "partial") return;
      u.said = event.text;
      u.saidLang = event.lang_code || u.saidLang;
      u.final = event.event !== "partial";
      u.rejected = event.event === "rejected";
      break;
    case "translation":
      u = u || newUtterance(id);
      u.meant[event.sentence_index] = event.text;
      u.meantLang = event.lang_code || u.meantLang;
      if (!u.said) u.said = event.source_text;
      break;
    case "speech_discarded":
      if (u && !u.final) removeUtterance(id);
      return;
    default:
      return;
  }
  render(u);
}

function newUtterance(id) {
  const u = { id, said: "", saidLang: "", final: false, rejected: false, meant: [], meantLang: "" };
  kiosk.utterances.set(id, u);
  return u;
}

function removeUtterance(id) {
  kiosk.utterances.delete(id);
  document.querySelectorAll(`.utterance[data-id="${id}"]`).forEach((el) => el.remove());
}

// --- captions ----------------------------------------------------------------------------

function sideLanguage(side) {
  // The pair is "EN>PT": the near half is the first language, the far half the second.
  const [near, far] = (kiosk.status.language_pair || ">").split(">");
  return side.dataset.side === "far" ? far : near;
}

function render(u) {
  const faceToFace = body.classList.contains("f2f");
  for (const side of sides) {
    const list = side.querySelector(".captions");
    let card = list.querySelector(`.utterance[data-id="${u.id}"]`);
    if (!card) {
      card = document.createElement("div");
      card.className = "utterance";
      card.dataset.id = u.id;
      card.innerHTML = '<div class="said"></div><div class="meant"></div>';
      list.appendChild(card); // ids only grow: newest at the bottom
    }
    const said = card.querySelector(".said");
    const meant = card.querySelector(".meant");
    const translation = u.meant.filter((t) => t).join(" ");
    card.classList.toggle("rejected", u.rejected);
    said.className = "said" + (u.final ? "" : " partial");
    meant.className = "meant";
    // Each half leads with what its reader understands: what was said in their language,
    // else its translation. Without face to face: said, then the translation below it.
    const lang = sideLanguage(side);
    const ownWords = !faceToFace || !u.saidLang || u.saidLang === lang;
    said.textContent = ownWords ? u.said : translation;
    meant.textContent = ownWords ? translation : u.said;
    if (faceToFace) {
      // the first line is the reader's language, large; the other one small below it
      said.classList.add("primary");
      meant.classList.add("secondary");
      if (!ownWords) said.classList.remove("partial");
      if (!ownWords && !u.final) meant.classList.add("partial");
    }
    list.scrollTop = list.scrollHeight;
  }
}

function renderAll() {
  [...kiosk.utterances.values()].sort((a, b) => a.id - b.id).forEach(render);
}

// --- state, notices ----------------------------------------------------------------------

function setState(state) {
  kiosk.status.state = state;
  body.dataset.state = state;
  document.querySelectorAll(".state-label").forEach((el) => {
    el.textContent = STATE_LABELS[state] || state;
  });
}

function setMode(mode) {
  body.dataset.mode = mode;
  // Hands-free: the session listens by itself; holding the button interrupts the device.
  const label = mode === "ptt" ? "Hold to talk" : "Hold to interrupt";
  document.querySelectorAll(".ptt-label").forEach((el) => (el.textContent = label));
}

function showNotice(message) {
  const text = message.toLowerCase();
  let title = "A sound device stopped working.";
  if (text.includes("microphone")) title = "The microphone is disconnected.";
  else if (text.includes("speaker")) title = "The speaker is disconnected.";
  notice.querySelector(".title").textContent =
    title + " Plug it back in: the translator goes on by itself.";
  notice.querySelector(".detail").textContent = message;
  notice.hidden = false;
}

function hideNotice() {
  notice.hidden = true;
}

// The handheld (edge live --bridge): hidden without one; else attached, or unplugged (the
// session goes on with the screen and the keys), or still being looked for.
const handheld = document.getElementById("handheld");
function setHandheld(h) {
  kiosk.status.handheld = h || null;
  handheld.hidden = !h;
  if (!h) return;
  let text;
  let state;
  if (h.attached === true) {
    state = "attached";
    text = `Handheld: ${h.detail || "attached"}`;
    handheld.title = `handheld attached on ${h.port}: ${h.detail}`;
  } else if (h.attached === false) {
    state = "detached";
    text = "Handheld unplugged: use the screen";
    handheld.title = `handheld on ${h.port} is gone (${h.detail}); it is re-attached when it comes back`;
  } else {
    state = "looking";
    text = "Handheld: connecting…";
    handheld.title = `looking for the handheld on ${h.port}`;
  }
  handheld.dataset.state = state;
  handheld.textContent = text;
}

let toastTimer = null;
function showToast(message) {
  toast.textContent = message;
  toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (toast.hidden = true), 6000);
}

// --- language pair -----------------------------------------------------------------------

function setPairs(pairs, current) {
  pairSelect.textContent = "";
  (pairs || []).forEach((p, i) => {
    const option = document.createElement("option");
    option.value = String(i);
    option.textContent = p.label;
    option.dataset.pair = p.pair;
    pairSelect.appendChild(option);
  });
  selectPair(current);
}

function selectPair(pair) {
  kiosk.status.language_pair = pair;
  for (const option of pairSelect.options) {
    if (option.dataset.pair === pair) pairSelect.value = option.value;
  }
}

pairSelect.addEventListener("change", () => {
  const p = kiosk.status.pairs[Number(pairSelect.value)];
  if (p) send({ type: "pair", source: p.source, target: p.target });
});
document.getElementById("swap").addEventListener("click", () => send({ type: "swap" }));

const f2fButton = document.getElementById("f2f");
f2fButton.addEventListener("click", () => {
  const on = body.classList.toggle("f2f");
  f2fButton.setAttribute("aria-pressed", String(on));
  renderAll();
});

// --- push-to-talk: pointer events cover mouse, touch and pen alike --------------------------

const activePointers = new Set();

function setHeld(held) {
  if (held === kiosk.held) return;
  kiosk.held = held;
  document.querySelectorAll(".ptt").forEach((b) => b.classList.toggle("held", held));
  send({ type: held ? "press" : "release" });
}

function pointerDown(e) {
  e.preventDefault();
  e.currentTarget.setPointerCapture(e.pointerId); // the release counts wherever it happens
  activePointers.add(e.pointerId);
  setHeld(true);
}

function pointerUp(e) {
  activePointers.delete(e.pointerId);
  if (activePointers.size === 0) setHeld(false); // both halves: the last finger up releases
}

document.querySelectorAll(".ptt").forEach((button) => {
  button.addEventListener("pointerdown", pointerDown);
  button.addEventListener("pointerup", pointerUp);
  button.addEventListener("pointercancel", pointerUp);
  button.addEventListener("lostpointercapture", pointerUp);
  button.addEventListener("contextmenu", (e) => e.preventDefault()); // touch long-press
});

// A keyboard on the kiosk (or a USB foot switch that types a space) holds it too.
let keyHeld = false;
document.addEventListener("keydown", (e) => {
  if (e.code !== "Space" || e.repeat || e.target === pairSelect) return;
  e.preventDefault();
  keyHeld = true;
  activePointers.add("key");
  setHeld(true);
});
document.addEventListener("keyup", (e) => {
  if (e.code !== "Space" || !keyHeld) return;
  keyHeld = false;
  activePointers.delete("key");
  if (activePointers.size === 0) setHeld(false);
});

// Leaving the page (reload, navigation; a page kept in the back-forward cache would keep its
// socket open): let go of the key and close, and connect again if the page is shown again.
let leaving = false;
window.addEventListener("pagehide", () => {
  leaving = true;
  activePointers.clear();
  setHeld(false);
  if (socket) socket.close();
});
window.addEventListener("pageshow", (e) => {
  if (e.persisted) {
    leaving = false;
    connect();
  }
});

connect();
