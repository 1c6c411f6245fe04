// The user's photos: listed from GET /images page by page (infinite scroll), each card kept
// up to date by polling until it settles, each ready image a <picture> from its manifest.
import { api, ApiError, backoff, sleep } from "./api.js";

const list = () => document.getElementById("items");

// The width each card's image is given by style.css (body padding 1rem, card padding .5rem and
// a 1px border, 1rem gaps): the full width on a phone, half from 34rem, a third from 52rem, and
// a third of the 60rem column from 60rem. The browser picks the srcset width from this and the
// device pixel ratio, so it must match the layout: 2rem too wide is the next variant up on DPR 2.
export const CARD_SIZES = [
  "(min-width: 60rem) 17.5rem",
  "(min-width: 52rem) calc(33.3vw - 2.4rem)",
  "(min-width: 34rem) calc(50vw - 2.5rem - 2px)",
  "calc(100vw - 3rem - 2px)",
].join(", ");

// The catalog's failure codes, as a sentence a person can act on.
const REASONS = {
  empty_file: "the file is empty",
  unsupported_format: "this is not an image we can read: its contents are not JPEG, PNG, WebP, AVIF, HEIC, GIF or TIFF, whatever its name says",
  file_too_large: "the file is larger than the upload limit",
  too_many_pixels: "the image has more pixels than we process",
  too_many_frames: "the animation has too many frames",
  too_many_scans: "the JPEG is built from too many progressive scans",
  metadata_too_large: "the file's metadata is too large",
  truncated: "the file is cut short (an incomplete copy?)",
  corrupt: "the file is damaged and cannot be decoded",
  decode_timeout: "the image took too long to decode",
  memory_limit: "the image needs too much memory to decode",
  decoder_crash: "the decoder failed on this file",
  worker_lost: "processing failed on this file every time it was tried",
  upload_missing: "the upload never arrived",
};

export function reasonInWords(image) {
  return REASONS[image.failure_reason] || image.failure_detail || image.failure_reason || "unknown reason";
}

const STATUS_WORDS = {
  uploading: "Uploading…",
  pending: "Waiting to be processed…",
  processing: "Processing…",
  ready: "Ready",
  failed: "Failed",
};

export function announce(text) {
  const region = document.getElementById("announce");
  const line = document.createElement("p");
  line.textContent = text;
  region.append(line);
  while (region.childElementCount > 20) region.firstElementChild.remove(); // only additions are read
}

// --- cards ---

export function newCard(name, { prepend = true } = {}) {
  const li = document.createElement("li");
  li.className = "card";
  const media = document.createElement("div");
  media.className = "media";
  const status = document.createElement("p");
  status.className = "status";
  const title = document.createElement("p");
  title.className = "name";
  title.textContent = name;
  const actions = document.createElement("div");
  actions.className = "actions";
  li.append(media, title, status, actions);
  if (prepend) list().prepend(li);
  else list().append(li);
  document.getElementById("empty").hidden = true;
  return li;
}

export function setStatus(li, status, detail = "") {
  const previous = li.dataset.status;
  li.dataset.status = status;
  const line = li.querySelector(".status");
  line.textContent = detail ? `${STATUS_WORDS[status] || status}: ${detail}` : STATUS_WORDS[status] || status;
  line.classList.toggle("failed", status === "failed" || status === "error");
  if (previous && previous !== status) announce(`${li.querySelector(".name").textContent}: ${line.textContent}`);
}

function button(text, className, onClick, label) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.textContent = text;
  if (label) b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

export function addButton(li, text, className, onClick) {
  const name = li.querySelector(".name").textContent;
  const b = button(text, className, onClick, `${text} ${name}`);
  li.querySelector(".actions").append(b);
  return b;
}

// Shows the record on its card: status in words, then the picture once there is one.
export function show(li, image) {
  li.dataset.imageId = image.image_id;
  li.querySelector(".name").textContent = image.filename;
  setStatus(li, image.status, image.status === "failed" ? reasonInWords(image) : "");
  if (image.delivery) showPicture(li, image);
  if (!li.querySelector(".delete")) addButton(li, "Delete", "delete", () => confirmDelete(li));
}

const shown = new WeakMap(); // <picture> -> its manifest's sources, so they are set once

// Placeholder first (inline, no request), sized to the image so nothing shifts; the <picture>
// over it fades in from a blur once the browser's chosen variant has loaded.
function showPicture(li, image) {
  const delivery = image.delivery;
  const media = li.querySelector(".media");
  media.style.aspectRatio = `${delivery.width} / ${delivery.height}`;
  let picture = media.querySelector("picture");
  if (!picture) {
    if (delivery.placeholder) {
      media.style.setProperty("--placeholder", `url("${delivery.placeholder.data_uri}")`);
      media.style.backgroundColor = delivery.dominant_color || "";
      media.classList.add("has-placeholder");
      // The frame that paints it: the weak-network test compares this with variant arrival.
      requestAnimationFrame(() => { li.dataset.placeholderAt = String(performance.now()); });
    }
    picture = document.createElement("picture");
    const img = document.createElement("img");
    img.alt = image.filename;
    img.decoding = "async";
    img.loading = "lazy";
    img.addEventListener("load", () => {
      media.classList.add("loaded");
      li.dataset.loadedAt = String(performance.now());
    });
    picture.append(img);
    media.append(picture);
  }
  const key = JSON.stringify(delivery.picture);
  if (shown.get(picture) === key) return;
  shown.set(picture, key);
  const img = picture.querySelector("img");
  picture.querySelectorAll("source").forEach((old) => old.remove());
  for (const s of delivery.picture.sources) {
    const source = document.createElement("source");
    source.type = s.type;
    source.srcset = s.srcset;
    source.sizes = CARD_SIZES; // this page knows its layout better than the suggested sizes
    picture.insertBefore(source, img);
  }
  img.width = delivery.picture.img.width;
  img.height = delivery.picture.img.height;
  img.sizes = CARD_SIZES;
  img.srcset = delivery.picture.img.srcset;
  img.src = delivery.picture.img.src;
}

// --- live status ---

const SETTLED = new Set(["ready", "failed"]);
const ABANDONED_MS = 20 * 60 * 1000;

// Polls one image until it is ready or failed (AVIF may still be arriving after "ready" with
// WebP and JPEG: one more look picks it up).
export async function watch(li, imageId) {
  let misses = 0;
  for (let delay = 400; ; delay = Math.min(delay * 1.5, 4000)) {
    let image;
    try {
      image = await api(`/image/${imageId}`);
      misses = 0;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return li.remove(); // deleted elsewhere
      if (err instanceof ApiError && err.status === 401) return;
      await sleep(backoff(++misses));
      continue;
    }
    if (!li.isConnected) return;
    show(li, image);
    // Asked for but never sent (the form expires in 15 minutes): nothing will change until
    // retention removes it, so stop asking.
    if (image.status === "pending" && Date.now() - Date.parse(image.upload_time) > ABANDONED_MS) {
      return setStatus(li, "pending", "the upload never arrived");
    }
    if (SETTLED.has(image.status)) {
      if (image.status === "ready" && !image.variants.some((v) => v.format === "avif") && !li.dataset.lastLook) {
        li.dataset.lastLook = "1";
        continue;
      }
      return;
    }
    await sleep(delay);
  }
}

// --- the list, page by page ---

const paging = { cursor: null, done: false, loading: false, observer: null, perPage: 12 };

export function perPage() {
  const asked = Number(new URLSearchParams(location.search).get("per_page"));
  return Number.isInteger(asked) && asked >= 1 && asked <= 100 ? asked : 12;
}

export async function loadGallery() {
  list().replaceChildren();
  Object.assign(paging, { cursor: null, done: false, loading: false, perPage: perPage() });
  await loadMore();
  paging.observer?.disconnect();
  // The sentinel under the list: when it comes near the viewport, the next page is fetched.
  paging.observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadMore();
  }, { rootMargin: "600px 0px" });
  paging.observer.observe(document.getElementById("more"));
}

async function loadMore() {
  if (paging.loading || paging.done) return;
  paging.loading = true;
  const note = document.getElementById("list-status");
  note.textContent = "Loading…";
  try {
    const query = new URLSearchParams({ limit: String(paging.perPage) });
    if (paging.cursor) query.set("cursor", paging.cursor);
    const page = await api(`/images?${query}`);
    for (const image of page.images) {
      if (list().querySelector(`[data-image-id="${image.image_id}"]`)) continue; // uploaded here
      const li = newCard(image.filename, { prepend: false });
      show(li, image);
      if (!SETTLED.has(image.status)) watch(li, image.image_id);
    }
    paging.cursor = page.next_cursor;
    paging.done = !page.next_cursor;
    note.textContent = paging.done ? "" : "Scroll for more.";
    document.getElementById("empty").hidden = list().childElementCount > 0;
  } catch (err) {
    note.textContent = `The list could not be loaded: ${err.message}`;
    paging.loading = false;
    return;
  }
  paging.loading = false;
  // Still room on screen (a tall phone, a short page): keep filling.
  const sentinel = document.getElementById("more").getBoundingClientRect();
  if (!paging.done && sentinel.top < innerHeight + 600) loadMore();
}

// --- delete ---

async function confirmDelete(li) {
  const dialog = document.getElementById("confirm-delete");
  document.getElementById("confirm-name").textContent = li.querySelector(".name").textContent;
  dialog.returnValue = "";
  dialog.showModal();
  const choice = await new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true }));
  const opener = li.querySelector(".delete");
  if (choice !== "delete") return opener?.focus();
  const name = li.querySelector(".name").textContent;
  try {
    await api(`/image/${li.dataset.imageId}`, { method: "DELETE" });
  } catch (err) {
    announce(`${name} could not be deleted: ${err.message}`);
    setStatus(li, "error", `could not delete: ${err.message}`);
    return;
  }
  const next = li.nextElementSibling || li.previousElementSibling;
  li.remove();
  announce(`${name} deleted`);
  document.getElementById("empty").hidden = list().childElementCount > 0;
  (next?.querySelector("button") || document.getElementById("gallery-title")).focus();
}
