// Sign-in through Cognito's hosted UI: the authorization code flow with PKCE (RFC 7636), as
// a public client (no secret in a page). The code comes back in the address bar and is taken
// out of it (and of history) before anything else; the tokens live in sessionStorage only.
const PENDING_KEY = "imagepipe-signin"; // {verifier, state} while the hosted UI has the user

const b64url = (bytes) => btoa(String.fromCharCode(...bytes))
  .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const randomText = (bytes) => b64url(crypto.getRandomValues(new Uint8Array(bytes)));

async function challengeFor(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return b64url(new Uint8Array(digest));
}

// The page itself: the app client must list it as a callback (and sign-out) URL.
export const returnUrl = () => `${location.origin}/`;

export async function startHostedSignIn(hostedUi) {
  const verifier = randomText(48); // 64 characters (RFC 7636 asks for 43 to 128)
  const state = randomText(16);
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state }));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: hostedUi.client_id,
    redirect_uri: returnUrl(),
    scope: hostedUi.scopes,
    state,
    code_challenge: await challengeFor(verifier),
    code_challenge_method: "S256",
  });
  location.assign(`${hostedUi.url}/oauth2/authorize?${query}`);
}

export function hostedSignOut(hostedUi) {
  const query = new URLSearchParams({ client_id: hostedUi.client_id, logout_uri: returnUrl() });
  location.assign(`${hostedUi.url}/logout?${query}`);
}

// Back from the hosted UI: the tokens ({access_token, id_token, ...}), or null when the address
// carries no answer. Throws an Error whose message can be shown.
export async function finishHostedSignIn(hostedUi) {
  const returned = new URLSearchParams(location.search);
  if (!returned.has("code") && !returned.has("error")) return null;
  const kept = new URLSearchParams(location.search);
  for (const name of ["code", "state", "error", "error_description"]) kept.delete(name);
  const rest = kept.toString();
  history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || "null");
  sessionStorage.removeItem(PENDING_KEY);
  if (returned.has("error")) {
    throw new Error(`the sign-in did not finish (${returned.get("error_description") || returned.get("error")})`);
  }
  // A code this page did not ask for (another tab, a forged link) is not exchanged.
  if (!pending || pending.state !== returned.get("state")) {
    throw new Error("this sign-in was not started on this page; please sign in again");
  }
  const body = new URLSearchParams({
    grant_type: "authorization_code",
    client_id: hostedUi.client_id,
    code: returned.get("code"),
    redirect_uri: returnUrl(),
    code_verifier: pending.verifier,
  });
  let response;
  try {
    // A code is good once: a lost answer means signing in again, so this is not retried.
    response = await fetch(`${hostedUi.url}/oauth2/token`, { method: "POST", body });
  } catch {
    throw new Error("the sign-in service cannot be reached; check the connection and sign in again");
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok || !answer.access_token) {
    throw new Error(`the sign-in was refused (${answer.error || response.status}); please sign in again`);
  }
  return answer;
}
