// The API as the page sees it: the bearer token, JSON calls, and the presigned upload itself.
// Network errors (and 5xx answers) are retried with jittered exponential backoff; a 4xx is an
// answer about the request and is never retried.

const TOKEN_KEY = "imagepipe-token";
const WHO_KEY = "imagepipe-who";
export const RETRIES = 5;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Nothing was answered: the connection failed or was dropped. Worth another try.
export class NetworkError extends Error {}

let token = null;

export function takeToken() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    history.replaceState(null, "", location.pathname + location.search); // out of history
    useToken(fromHash);
  }
  token = sessionStorage.getItem(TOKEN_KEY);
  return token;
}

// The token the API gets, and the name to show: the ID token's email after a Cognito sign-in
// (its access token names the user by an opaque sub), the subject otherwise.
export function useToken(value, idToken = null) {
  sessionStorage.setItem(TOKEN_KEY, value);
  const email = idToken && claims(idToken)?.email;
  if (email) sessionStorage.setItem(WHO_KEY, email);
  else sessionStorage.removeItem(WHO_KEY);
  token = value;
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(WHO_KEY);
  token = null;
}

export function displayName(value) {
  return sessionStorage.getItem(WHO_KEY) || claims(value)?.sub || null;
}

// A token's claims, read without verifying (the server does that on every call).
function claims(value) {
  try {
    const part = value.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch {
    return null;
  }
}

export function backoff(attempt) {
  const base = Math.min(8000, 500 * 2 ** attempt);
  return base / 2 + Math.random() * (base / 2);
}

export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError());
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(timer); reject(abortError()); }, { once: true });
  });
}

function abortError() {
  return new DOMException("cancelled", "AbortError");
}

// fetch + JSON. Retries network errors, 502/503/504, and a 429 that says when (Retry-After).
export async function api(path, { method = "GET", body, signal, noAuth = false } = {}) {
  const headers = { Accept: "application/json" };
  if (!noAuth && token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  for (let attempt = 0; ; attempt++) {
    let response;
    try {
      response = await fetch(path, {
        method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      if (signal?.aborted) throw abortError();
      if (attempt >= RETRIES) throw new ApiError(0, "unreachable", "the server cannot be reached; check the connection");
      await sleep(backoff(attempt), signal);
      continue;
    }
    const data = await response.json().catch(() => ({}));
    if (response.ok) return data;
    const error = data.error || {};
    const wait = Number(response.headers.get("Retry-After"));
    const transient = [502, 503, 504].includes(response.status) || (response.status === 429 && wait > 0);
    if (transient && attempt < RETRIES && (!wait || wait <= 30)) {
      await sleep(wait ? wait * 1000 : backoff(attempt), signal);
      continue;
    }
    if (response.status === 401) window.dispatchEvent(new CustomEvent("imagepipe:unauthorized", { detail: error.message }));
    throw new ApiError(response.status, error.code || "error", error.message || response.statusText);
  }
}

// Posts the file through the ticket: the presigned form, or S3 multipart parts when the
// ticket has them (upload.multipart, on the AWS path above the multipart threshold).
// onProgress(fraction) follows the bytes actually sent.
export function sendFile(ticket, file, { onProgress, onRetry, signal }) {
  const upload = ticket.upload;
  if (Array.isArray(upload.multipart?.parts) && upload.multipart.parts.length) {
    return sendParts(ticket.image_id, upload.multipart, file, { onProgress, onRetry, signal });
  }
  return withRetries(async (attempt) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
    form.append("file", file);
    try {
      await xhr(upload.method, upload.url, form, (loaded) => onProgress(loaded / file.size), signal);
    } catch (err) {
      // The earlier attempt's bytes arrived and only its answer was lost: the form is spent.
      if (attempt > 0 && err instanceof ApiError && err.code === "already_uploaded") return;
      throw err;
    }
  }, { onRetry, signal });
}

// S3 multipart: each part PUT to its own presigned URL; a part that fails is sent again,
// parts already sent are not (the upload resumes where the connection dropped).
async function sendParts(imageId, upload, file, { onProgress, onRetry, signal }) {
  const done = new Map(); // part number -> ETag
  const sent = new Map(); // part number -> bytes so far
  const report = () => onProgress([...sent.values()].reduce((a, b) => a + b, 0) / file.size);
  let offset = 0;
  for (const part of upload.parts) {
    const start = offset;
    offset += part.size;
    if (done.has(part.part_number)) continue;
    const etag = await withRetries(() => xhr("PUT", part.url, file.slice(start, start + part.size), (loaded) => {
      sent.set(part.part_number, loaded);
      report();
    }, signal, "ETag"), { onRetry, signal });
    done.set(part.part_number, etag);
  }
  const parts = [...done].map(([part_number, etag]) => ({ part_number, etag: etag.replace(/"/g, "") }));
  await api(upload.complete_url || `/upload/${imageId}/complete`, {
    method: "POST", body: { upload_id: upload.upload_id, parts }, signal,
  });
}

async function withRetries(send, { onRetry, signal }) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await send(attempt);
    } catch (err) {
      if (!(err instanceof NetworkError) || attempt >= RETRIES || signal?.aborted) throw err;
      const delay = backoff(attempt);
      onRetry?.(attempt + 1, delay);
      await sleep(delay, signal);
    }
  }
}

// One XMLHttpRequest (fetch has no upload progress). Resolves with the named response header.
function xhr(method, url, body, onLoaded, signal, header) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open(method, url);
    request.upload.onprogress = (e) => onLoaded(e.loaded);
    request.onload = () => {
      if (request.status < 300) return resolve(header ? request.getResponseHeader(header) || "" : undefined);
      if (request.status >= 500) return reject(new NetworkError(`the store answered ${request.status}`));
      reject(answerError(request));
    };
    request.onerror = () => reject(new NetworkError("the connection was lost during the upload"));
    request.ontimeout = request.onerror;
    request.onabort = () => reject(abortError());
    signal?.addEventListener("abort", () => request.abort(), { once: true });
    request.send(body);
  });
}

function answerError(request) {
  try {
    const e = JSON.parse(request.responseText).error;
    return new ApiError(request.status, e.code, e.message);
  } catch {
    return new ApiError(request.status, "upload_refused", `the upload was refused (${request.status})`);
  }
}
