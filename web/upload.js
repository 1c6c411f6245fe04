// The page: sign in, take files (picker, camera, drag and drop), check them, upload each with
// its own progress bar, cancel and retry, then hand the card to the gallery to watch.
import { api, ApiError, NetworkError, sendFile, signOut, subject, takeToken, useToken } from "./api.js";
import { addButton, announce, loadGallery, newCard, setStatus, show, watch } from "./gallery.js";

// What POST /upload accepts (app/imaging/formats.py); the server's answer still decides.
const ACCEPTED = new Set([
  "image/jpeg", "image/jpg", "image/pjpeg", "image/png", "image/x-png", "image/webp", "image/avif",
  "image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence", "image/gif",
  "image/tiff", "image/x-tiff",
]);
const BY_EXTENSION = {
  jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", webp: "image/webp", avif: "image/avif",
  heic: "image/heic", heif: "image/heif", gif: "image/gif", tif: "image/tiff", tiff: "image/tiff",
};
const MAX_BYTES = 50 * 1000 * 1000; // IMAGEPIPE_MAX_UPLOAD_BYTES's default

// The type to declare: the browser's, or from the extension when it has none (HEIC on many
// desktops). null when it is not an image type we take.
function contentType(file) {
  const type = (file.type || "").toLowerCase();
  if (ACCEPTED.has(type)) return type;
  if (type && type !== "application/octet-stream") return null;
  return BY_EXTENSION[file.name.split(".").pop().toLowerCase()] || null;
}

function check(file) {
  const type = contentType(file);
  if (!type) return `${file.name} is not a photo we accept (${file.type || "unknown type"}); choose JPEG, PNG, WebP, AVIF, HEIC, GIF or TIFF.`;
  if (file.size === 0) return `${file.name} is empty.`;
  if (file.size > MAX_BYTES) return `${file.name} is ${megabytes(file.size)}; the limit is ${megabytes(MAX_BYTES)}.`;
  return null;
}

const megabytes = (n) => `${(n / 1e6).toFixed(1)} MB`;

export function take(files) {
  const rejected = [];
  for (const file of files) {
    const problem = check(file);
    if (problem) rejected.push(problem);
    else uploadOne(file);
  }
  const box = document.getElementById("rejected");
  box.textContent = rejected.join(" ");
}

async function uploadOne(file) {
  const li = newCard(file.name);
  setStatus(li, "uploading");
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  bar.setAttribute("aria-label", `Upload of ${file.name}`);
  li.querySelector(".media").after(bar);
  const controller = new AbortController();
  const cancel = addButton(li, "Cancel", "cancel", () => controller.abort());
  announce(`${file.name}: uploading`);
  let ticket;
  try {
    ticket = await api("/upload", {
      method: "POST",
      body: { filename: file.name, content_type: contentType(file), size: file.size },
      signal: controller.signal,
    });
    li.dataset.imageId = ticket.image_id;
    await sendFile(ticket, file, {
      signal: controller.signal,
      onProgress: (fraction) => { bar.value = Math.round(fraction * 100); },
      onRetry: (attempt, delay) => setStatus(li, "uploading", `connection lost; retry ${attempt} in ${Math.ceil(delay / 1000)} s`),
    });
  } catch (err) {
    cancel.remove();
    if (err.name === "AbortError") {
      announce(`${file.name}: upload cancelled`);
      li.remove();
      // The record asked for is erased now rather than listed as pending until retention.
      if (ticket) api(`/image/${ticket.image_id}`, { method: "DELETE" }).catch(() => {});
      return;
    }
    const why = err instanceof ApiError || err instanceof NetworkError ? err.message : String(err);
    setStatus(li, "error", why);
    li.dataset.status = "error";
    return;
  }
  cancel.remove();
  setStatus(li, "pending");
  show(li, { image_id: ticket.image_id, filename: file.name, status: "pending" });
  watch(li, ticket.image_id);
}

// --- drag and drop, anywhere on the page ---

function acceptDrops() {
  const overlay = document.getElementById("drop-overlay");
  let depth = 0;
  const hasFiles = (e) => [...(e.dataTransfer?.types || [])].includes("Files");
  document.addEventListener("dragenter", (e) => {
    if (!hasFiles(e) || document.getElementById("uploader").hidden) return;
    depth++;
    overlay.hidden = false;
  });
  document.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; overlay.hidden = true; } });
  document.addEventListener("dragover", (e) => { if (hasFiles(e)) e.preventDefault(); });
  document.addEventListener("drop", (e) => {
    e.preventDefault(); // the browser would otherwise open the file and leave the page
    depth = 0;
    overlay.hidden = true;
    if (document.getElementById("uploader").hidden) return;
    take([...(e.dataTransfer?.files || [])]);
  });
}

// --- sign-in ---

function showSignIn(message = "") {
  document.getElementById("signin").hidden = false;
  document.getElementById("uploader").hidden = true;
  document.getElementById("gallery").hidden = true;
  document.getElementById("sign-out").hidden = true;
  document.getElementById("who").textContent = "Not signed in.";
  document.getElementById("signin-error").textContent = message;
  document.getElementById("user-id").focus();
}

function signedIn(token) {
  const who = subject(token);
  if (!who) return showSignIn("That token cannot be read; paste the whole token.");
  document.getElementById("signin").hidden = true;
  document.getElementById("uploader").hidden = false;
  document.getElementById("gallery").hidden = false;
  document.getElementById("sign-out").hidden = false;
  document.getElementById("who").textContent = `Signed in as ${who}`;
  loadGallery();
}

function start() {
  document.getElementById("sign-in-as").addEventListener("submit", async (e) => {
    e.preventDefault();
    const userId = document.getElementById("user-id").value.trim();
    try {
      const answer = await api("/dev/token", { method: "POST", body: { user_id: userId }, noAuth: true });
      useToken(answer.token);
      signedIn(answer.token);
    } catch (err) {
      const message = err.status === 404
        ? "Signing in by name works only on a laptop (embedded mode); paste a token instead."
        : err.message;
      document.getElementById("signin-error").textContent = message;
    }
  });
  document.getElementById("paste-token").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = document.getElementById("token").value.trim();
    document.getElementById("token").value = "";
    useToken(value);
    signedIn(value);
  });
  document.getElementById("sign-out").addEventListener("click", () => { signOut(); showSignIn(); });
  window.addEventListener("imagepipe:unauthorized", (e) => {
    signOut();
    showSignIn(`Please sign in again (${e.detail || "the token was refused"}).`);
  });
  for (const id of ["file", "camera"]) {
    const input = document.getElementById(id);
    input.addEventListener("change", () => { take([...input.files]); input.value = ""; });
  }
  acceptDrops();
  const token = takeToken();
  if (token) signedIn(token);
  else showSignIn();
}

start();
