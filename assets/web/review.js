// The review page: the queue of outputs waiting for a person, each with its source and
// output side by side and its questions; decisions by button or by key. It talks to the
// JSON API only, through api.js.
"use strict";

const queue = document.getElementById("queue");
const summary = document.getElementById("summary");
const route = document.getElementById("route");
let cards = [];
let current = -1;

function when(t) {
  return t ? new Date(t).toLocaleString() : "";
}

function render(item) {
  const li = document.getElementById("card").content.firstElementChild.cloneNode(true);
  li.dataset.id = item.id;
  li.setAttribute("aria-label", item.name + ", " + item.spec_id);
  li.querySelector(".title").textContent = item.source + " → " + item.spec_id;
  const r = li.querySelector(".route");
  const badge = document.createElement("span");
  badge.className = "badge" + (item.overdue ? " overdue" : "");
  badge.textContent = item.overdue ? "overdue" : item.route;
  const owner = item.owner && item.owner !== item.route ? "owner " + item.owner + " · " : "";
  r.append(badge, " " + (item.overdue ? item.route + " · " : "") + owner +
    "waiting since " + when(item.since) + " · due " + when(item.due));
  const qs = li.querySelector(".questions");
  for (const q of item.questions) {
    const el = document.createElement("li");
    el.textContent = q;
    qs.append(el);
  }
  li.querySelector(".todo").textContent = "To do: " + item.action;
  // Which batch it belongs to, and whether the same photo waits in another one too.
  const b = li.querySelector(".batch");
  const link = document.createElement("a");
  link.href = "/batches/" + encodeURIComponent(item.batch);
  link.textContent = item.batch;
  b.append("Batch ", link);
  if (item.also_waiting_in.length) {
    const twice = document.createElement("span");
    twice.className = "badge twice";
    twice.textContent = "also waiting in " + item.also_waiting_in.join(", ");
    b.append(" ", twice);
  }
  const src = li.querySelector("img.source");
  const out = li.querySelector("img.output");
  src.alt = "Source photo " + item.source;
  out.alt = "Output for " + item.spec_id;
  loadImage(src, "/v1/assets/" + encodeURIComponent(item.id) + "/thumb?of=source");
  if (item.file) loadImage(out, "/v1/assets/" + encodeURIComponent(item.id) + "/thumb");
  li.querySelector(".approve").addEventListener("click", () => decide(li, { decision: "approve" }));
  li.querySelector(".reject").addEventListener("click", () => openForm(li, ".reject-form"));
  li.querySelector(".retry").addEventListener("click", () => openForm(li, ".retry-form"));
  li.querySelector(".zoom-button").addEventListener("click", () => zoom(li));
  li.querySelector(".reject-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const note = e.target.elements.note.value.trim();
    if (note) decide(li, { decision: "reject", note });
  });
  li.querySelector(".retry-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const f = e.target.elements;
    const change = {};
    if (f.fill_ratio.value) change.fill_ratio = Number(f.fill_ratio.value);
    if (f.max_upscale.value) change.max_upscale = Number(f.max_upscale.value);
    if (f.align.value) change.align = f.align.value;
    if (f.treat_as.value) change.treat_as = f.treat_as.value;
    if (f.enclosed.value) change.enclosed = f.enclosed.value;
    decide(li, { decision: "retry", override: change });
  });
  li.addEventListener("focusin", () => select(cards.indexOf(li), false));
  return li;
}

function select(i, focus = true) {
  if (i < 0 || i >= cards.length) return;
  cards.forEach((c) => c.classList.remove("current"));
  current = i;
  const c = cards[i];
  c.classList.add("current");
  if (focus) {
    c.focus({ preventScroll: true });
    c.scrollIntoView({ block: "nearest" });
  }
}

function openForm(li, which) {
  const form = li.querySelector(which);
  li.querySelectorAll("form").forEach((f) => { if (f !== form) f.hidden = true; });
  form.hidden = false;
  const first = form.querySelector("input, select");
  if (first) first.focus({ preventScroll: true });
  // The whole form, its submit button included, in view.
  form.scrollIntoView({ block: "nearest" });
}

async function decide(li, body) {
  const outcome = li.querySelector(".outcome");
  outcome.textContent = body.decision === "retry" ? "Making it again…" : "Sending…";
  try {
    const h = await json("/v1/assets/" + encodeURIComponent(li.dataset.id) + "/review", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const state = h.state;
    outcome.innerHTML = "";
    const badge = document.createElement("span");
    badge.className = "badge " + state;
    badge.textContent = state.replace("_", " ");
    outcome.append(badge, " " + (state === "needs_review" ? "still waits: " + (h.next_actor.questions || []).join(" ") : "by " + h.history[h.history.length - 1].actor));
    li.querySelectorAll("form").forEach((f) => (f.hidden = true));
    if (state !== "needs_review") {
      li.classList.add("decided");
      li.querySelectorAll(".actions button:not(.zoom-button)").forEach((b) => (b.disabled = true));
      li.dataset.decided = state;
    }
    if (h.asset) loadImage(li.querySelector("img.output"), "/v1/assets/" + encodeURIComponent(li.dataset.id) + "/thumb");
    count();
    next();
  } catch (e) {
    outcome.textContent = "Not recorded: " + e.message;
  }
}

function next() {
  for (let i = current + 1; i < cards.length; i++) {
    if (!cards[i].dataset.decided) return select(i);
  }
  select(Math.min(current + 1, cards.length - 1));
}

function count() {
  const left = cards.filter((c) => !c.dataset.decided).length;
  summary.textContent = left + " of " + cards.length + " waiting" +
    (left === 0 && cards.length ? ": the queue is clear" : "");
}

const zoomBox = document.getElementById("zoom");
const zoomImg = document.getElementById("zoom-img");
async function zoom(li) {
  if (!zoomBox.hidden) return unzoom();
  zoomImg.alt = "Output for " + li.getAttribute("aria-label") + " at 100%";
  zoomBox.hidden = false;
  document.getElementById("zoom-close").focus();
  await loadImage(zoomImg, "/v1/assets/" + encodeURIComponent(li.dataset.id) + "/file");
  // Open on the middle, where the spec puts the product, not on the blank top-left corner.
  await zoomImg.decode().catch(() => {});
  zoomBox.scrollLeft = (zoomBox.scrollWidth - zoomBox.clientWidth) / 2;
  zoomBox.scrollTop = (zoomBox.scrollHeight - zoomBox.clientHeight) / 2;
  zoomBox.dataset.shown = li.dataset.id;
}
function unzoom() {
  zoomBox.hidden = true;
  delete zoomBox.dataset.shown;
  if (cards[current]) cards[current].focus();
}
document.getElementById("zoom-close").addEventListener("click", unzoom);

const help = document.getElementById("help");
const helpButton = document.getElementById("help-button");
function toggleHelp() {
  help.hidden = !help.hidden;
  helpButton.setAttribute("aria-expanded", String(!help.hidden));
}
helpButton.addEventListener("click", toggleHelp);

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const typing = e.target.closest("input, textarea, select");
  if (e.key === "Escape") {
    if (!zoomBox.hidden) return unzoom();
    const li = cards[current];
    if (li) {
      li.querySelectorAll("form").forEach((f) => (f.hidden = true));
      li.focus();
    }
    return;
  }
  if (typing) return;
  if (!zoomBox.hidden) {
    // Arrows pan the image at 100%; any other key closes it first, so a decision is never
    // taken on a card hidden behind it.
    if (e.key.startsWith("Arrow")) return;
    if (e.key !== "z") unzoom();
  }
  const li = cards[current];
  switch (e.key) {
    case "j": case "ArrowRight": case "ArrowDown": e.preventDefault(); select(current + 1); break;
    case "k": case "ArrowLeft": case "ArrowUp": e.preventDefault(); select(current - 1); break;
    case "a": if (li && !li.dataset.decided) { e.preventDefault(); decide(li, { decision: "approve" }); } break;
    case "r": if (li && !li.dataset.decided) { e.preventDefault(); openForm(li, ".reject-form"); } break;
    case "t": if (li && !li.dataset.decided) { e.preventDefault(); openForm(li, ".retry-form"); } break;
    case "z": if (li) { e.preventDefault(); zoom(li); } break;
    case "?": e.preventDefault(); toggleHelp(); break;
  }
});

async function load() {
  const q = new URLSearchParams(location.search);
  if (route.value) q.set("route", route.value); else q.delete("route");
  try {
    const data = await json("/v1/review?" + q.toString());
    queue.replaceChildren();
    cards = data.waiting.map(render);
    queue.append(...cards);
    document.getElementById("empty").hidden = cards.length > 0;
    count();
    if (data.overdue) summary.textContent += " (" + data.overdue + " overdue)";
    current = -1;
    select(0);
  } catch (e) {
    summary.textContent = e.status === 401
      ? "This server needs a token: open /review#token=<your token>"
      : "The queue could not be loaded: " + e.message;
  }
}
route.addEventListener("change", load);
load();
