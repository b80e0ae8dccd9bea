// The batch page: a contact sheet of every output with its state, filtered by state. Like
// the review page it talks to the JSON API only, through api.js.
"use strict";

const id = decodeURIComponent(location.pathname.split("/").pop());

const sheet = document.getElementById("sheet");
const filter = document.getElementById("state");
let tiles = [];

function show() {
  let shown = 0;
  for (const t of tiles) {
    t.hidden = filter.value !== "" && t.dataset.state !== filter.value;
    if (!t.hidden) shown++;
  }
  document.getElementById("none").hidden = shown > 0;
}
filter.addEventListener("change", show);

// The same sheet as one PNG to save or send: fetched with the token, saved from a blob.
document.getElementById("sheet-png").addEventListener("click", async (ev) => {
  const button = ev.currentTarget;
  button.disabled = true;
  button.textContent = "Making the contact sheet…";
  try {
    const r = await api("/v1/batches/" + encodeURIComponent(id) + "/contact-sheet.png");
    if (!r.ok) throw new Error(r.status + " " + r.statusText);
    const a = document.createElement("a");
    a.href = URL.createObjectURL(await r.blob());
    a.download = "shelfready-" + id + "-contact-sheet.png";
    a.click();
    button.textContent = "Contact sheet (PNG)";
  } catch (e) {
    button.textContent = "Contact sheet failed: " + e.message;
  } finally {
    button.disabled = false;
  }
});

async function load() {
  document.getElementById("title").textContent = "Batch " + id;
  document.getElementById("review-link").href = "/review?batch=" + encodeURIComponent(id);
  const r = await api("/v1/batches/" + encodeURIComponent(id));
  const summary = document.getElementById("summary");
  if (!r.ok) {
    summary.textContent = r.status === 401
      ? "This server needs a token: open this page with #token=<your token>"
      : "The batch could not be loaded (" + r.status + ")";
    return;
  }
  const b = await r.json();
  const counts = Object.entries(b.outputs).map(([s, n]) => n + " " + s.replace("_", " ")).join(", ");
  summary.textContent = b.state + " · " + counts + " · " + b.awaiting_receipt + " delivered, not yet received";
  tiles = [];
  for (const a of b.assets) {
    for (const o of a.outputs) {
      const li = document.getElementById("tile").content.firstElementChild.cloneNode(true);
      li.dataset.state = o.state;
      li.querySelector(".name").textContent = a.source;
      const badge = li.querySelector(".badge");
      badge.className = "badge " + o.state;
      badge.textContent = o.state.replace("_", " ");
      li.querySelector(".spec").textContent = o.spec_id;
      const img = li.querySelector("img");
      img.alt = a.source + " for " + o.spec_id;
      if (o.file) {
        loadImage(img, "/v1/assets/" + encodeURIComponent(o.id) + "/thumb?size=320");
      } else {
        // No file to show: the reason, in a box the size of a preview (an image's alt
        // text would spill over the tile).
        const none = document.createElement("div");
        none.className = "no-image";
        none.textContent = "no image: " + a.line.trim();
        img.replaceWith(none);
      }
      tiles.push(li);
    }
  }
  sheet.replaceChildren(...tiles);
  show();
}
load();
