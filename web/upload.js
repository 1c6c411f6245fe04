// The page: sign in, take files (picker, camera, drag and drop), check them, upload each with
// its own progress bar, cancel and retry, then hand the card to the gallery to watch.
import { api, ApiError, displayName, NetworkError, sendFile, signOut, takeToken, useToken } from "./api.js";
import { addButton, announce, loadGallery, newCard, setStatus, show, watch } from "./gallery.js";
import { finishHostedSignIn, hostedSignOut, startHostedSignIn } from "./signin.js";

// GET /config: how to sign in, and what the server takes (its answer still decides).
let config = null;

// The type to declare: the browser's, or from the extension when it has none (HEIC on many
// desktops). null when it is not an image type we take.
function contentType(file) {
  const { content_types: accepted, by_suffix: bySuffix } = config.upload;
  const type = (file.type || "").toLowerCase();
  if (accepted.includes(type)) return type;
  if (type && type !== "application/octet-stream") return null;
  return bySuffix[file.name.split(".").pop().toLowerCase()] || null;
}

function check(file) {
  const type = contentType(file);
  if (!type) return `${file.name} is not a photo we accept (${file.type || "unknown type"}); choose JPEG, PNG, WebP, AVIF, HEIC, GIF or TIFF.`;
  if (file.size === 0) return `${file.name} is empty.`;
  const limit = config.upload.max_bytes;
  if (file.size > limit) return `${file.name} is ${megabytes(file.size)}; the limit is ${megabytes(limit)}.`;
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
  const hostedUi = config?.sign_in.hosted_ui;
  document.getElementById("signin").hidden = false;
  document.getElementById("hosted").hidden = !hostedUi;
  document.getElementById("sign-in-as").hidden = !config?.sign_in.dev;
  document.getElementById("uploader").hidden = true;
  document.getElementById("gallery").hidden = true;
  document.getElementById("sign-out").hidden = true;
  document.getElementById("who").textContent = "Not signed in.";
  document.getElementById("signin-error").textContent = message;
  document.getElementById(hostedUi ? "hosted-sign-in" : config?.sign_in.dev ? "user-id" : "token").focus();
}

function signedIn(token) {
  const who = displayName(token);
  if (!who) return showSignIn("That token cannot be read; paste the whole token.");
  document.getElementById("signin").hidden = true;
  document.getElementById("uploader").hidden = false;
  document.getElementById("gallery").hidden = false;
  document.getElementById("sign-out").hidden = false;
  document.getElementById("who").textContent = `Signed in as ${who}`;
  document.getElementById("max-size").textContent = megabytes(config.upload.max_bytes);
  loadGallery();
}

function wire() {
  document.getElementById("hosted-sign-in").addEventListener("click", () => {
    startHostedSignIn(config.sign_in.hosted_ui);
  });
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
  document.getElementById("sign-out").addEventListener("click", () => {
    signOut();
    const hostedUi = config.sign_in.hosted_ui;
    if (hostedUi) hostedSignOut(hostedUi); // ends the hosted UI's session too
    else showSignIn();
  });
  window.addEventListener("imagepipe:unauthorized", (e) => {
    signOut();
    showSignIn(`Please sign in again (${e.detail || "the token was refused"}).`);
  });
  for (const id of ["file", "camera"]) {
    const input = document.getElementById(id);
    input.addEventListener("change", () => { take([...input.files]); input.value = ""; });
  }
  acceptDrops();
}

async function start() {
  try {
    config = await api("/config", { noAuth: true });
  } catch (err) {
    document.getElementById("signin").hidden = false;
    document.getElementById("signin-error").textContent = `The server cannot be reached (${err.message}); reload to try again.`;
    return;
  }
  wire();
  const hostedUi = config.sign_in.hosted_ui;
  if (hostedUi) {
    try {
      const tokens = await finishHostedSignIn(hostedUi);
      if (tokens) useToken(tokens.access_token, tokens.id_token);
    } catch (err) {
      return showSignIn(err.message);
    }
  }
  const token = takeToken();
  if (token) signedIn(token);
  else showSignIn();
}

start();
