// What every page shares: the token (from `#token=...` once, then kept for the tab), calls
// to the JSON API with it, and images fetched with it and shown from a blob.
"use strict";

const tokenParams = new URLSearchParams(location.hash.slice(1));
if (tokenParams.get("token")) {
  sessionStorage.setItem("shelfready-token", tokenParams.get("token"));
  history.replaceState(null, "", location.pathname + location.search);
}
const token = sessionStorage.getItem("shelfready-token");

function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token) headers.Authorization = "Bearer " + token;
  return fetch(path, Object.assign({}, options, { headers }));
}

async function json(path, options) {
  const r = await api(path, options);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const e = new Error((body.error && body.error.message) || r.statusText);
    e.status = r.status;
    throw e;
  }
  return body;
}

async function loadImage(img, path) {
  try {
    const r = await api(path);
    if (!r.ok) throw new Error(r.statusText);
    img.src = URL.createObjectURL(await r.blob());
  } catch (e) {
    img.alt += " (could not be loaded: " + e.message + ")";
  }
}
