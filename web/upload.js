// The upload flow as a client sees it: ask for a form, post the bytes with progress, poll, show.
const state = { token: null };

function takeToken() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem("imagepipe-token", fromHash);
    history.replaceState(null, "", location.pathname); // keep the token out of history
  }
  return sessionStorage.getItem("imagepipe-token");
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${state.token}`, "Content-Type": "application/json" },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error ? `${body.error.code}: ${body.error.message}` : response.statusText);
  return body;
}

function postForm(upload, file, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
    form.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open(upload.method, upload.url);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => (xhr.status < 300 ? resolve() : reject(new Error(uploadError(xhr))));
    xhr.onerror = () => reject(new Error("the upload was interrupted"));
    xhr.send(form);
  });
}

function uploadError(xhr) {
  try { const e = JSON.parse(xhr.responseText).error; return `${e.code}: ${e.message}`; }
  catch { return `upload failed (${xhr.status})`; }
}

function card(file) {
  const li = document.createElement("li");
  li.innerHTML = `<div class="media"></div><progress max="1" value="0"></progress>
    <div class="status"></div><div class="name"></div>`;
  li.querySelector(".name").textContent = file.name;
  document.getElementById("items").prepend(li);
  return li;
}

// What the page's grid gives each card (style.css): a third of 60rem, half, or the full width.
const CARD_SIZES = "(min-width: 60rem) 20rem, (min-width: 34rem) 50vw, 100vw";

function show(li, image) {
  const status = li.querySelector(".status");
  status.textContent = image.status + (image.failure_reason ? ` — ${image.failure_reason}: ${image.failure_detail}` : "");
  status.classList.toggle("failed", image.status === "failed");
  li.dataset.status = image.status;
  const media = li.querySelector(".media");
  const delivery = image.delivery;
  let picture = media.querySelector("picture");
  if (!picture && image.placeholder) {
    // Step 1: the inline placeholder, painted at once (no request) at the final aspect ratio.
    const box = delivery || image;
    const img = document.createElement("img");
    img.alt = image.filename;
    img.decoding = "async";
    img.width = box.width;
    img.height = box.height;
    img.src = image.placeholder.data_uri;
    // Also as the background, so nothing but the placeholder shows while a variant decodes.
    img.style.background = `${image.placeholder.dominant_color} url("${image.placeholder.data_uri}") center / cover no-repeat`;
    picture = document.createElement("picture");
    picture.append(img);
    media.append(picture);
  }
  // Step 2: the right variant, picked by the browser from the manifest's <picture> sources.
  if (picture && delivery) useSources(picture, delivery);
}

const shownSources = new WeakMap(); // <picture> -> the manifest picture it shows

// Puts the manifest's sources on the card's one <picture>. The browser keeps showing what it
// shows (the placeholder, or WebP before AVIF arrived) until the newly chosen image has loaded.
// Only redone when the sources change: AVIF arriving after WebP and JPEG, or URLs signed anew.
function useSources(picture, delivery) {
  const key = JSON.stringify(delivery.picture);
  if (shownSources.get(picture) === key) return;
  shownSources.set(picture, key);
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

async function uploadOne(file) {
  const li = card(file);
  const bar = li.querySelector("progress");
  try {
    const ticket = await api("/upload", {
      method: "POST",
      body: JSON.stringify({ filename: file.name, content_type: file.type || "application/octet-stream", size: file.size }),
    });
    li.dataset.imageId = ticket.image_id;
    await postForm(ticket.upload, file, (p) => (bar.value = p));
    bar.remove();
    for (let delay = 250; ; delay = Math.min(delay * 1.5, 3000)) {
      const image = await api(`/image/${ticket.image_id}`);
      show(li, image);
      if (image.status === "ready" || image.status === "failed") break;
      await new Promise((r) => setTimeout(r, delay));
    }
  } catch (err) {
    bar.remove();
    const status = li.querySelector(".status");
    status.textContent = err.message;
    status.classList.add("failed");
    li.dataset.status = "error";
  }
}

function start() {
  state.token = takeToken();
  const signin = document.getElementById("signin");
  const uploader = document.getElementById("uploader");
  document.getElementById("use-token").onclick = () => {
    sessionStorage.setItem("imagepipe-token", document.getElementById("token").value.trim());
    start();
  };
  if (!state.token) { signin.hidden = false; uploader.hidden = true; return; }
  signin.hidden = true; uploader.hidden = false;
  const claims = JSON.parse(atob(state.token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  document.getElementById("who").textContent = `Signed in as ${claims.sub}`;
  document.getElementById("file").onchange = (e) => [...e.target.files].forEach(uploadOne);
}

start();
