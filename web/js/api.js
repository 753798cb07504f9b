// Edgewatch's HTTP API as the page uses it: one fetch helper that sends the session's token
// and turns every failure into an ApiError whose `kind` the page shows as a message:
// "unreachable" (no answer), "unauthorized" (401), "forbidden" (403), "invalid" (422), "server".

const TOKEN_KEY = "edgewatch.token";
const ADMIN_KEY = "edgewatch.admin-token";

export class ApiError extends Error {
  constructor(kind, message, status = 0) {
    super(message);
    this.kind = kind;
    this.status = status;
  }
}

export const tokens = {
  get api() { return sessionStorage.getItem(TOKEN_KEY) || ""; },
  set api(value) { value ? sessionStorage.setItem(TOKEN_KEY, value) : sessionStorage.removeItem(TOKEN_KEY); },
  get admin() { return sessionStorage.getItem(ADMIN_KEY) || ""; },
  set admin(value) { value ? sessionStorage.setItem(ADMIN_KEY, value) : sessionStorage.removeItem(ADMIN_KEY); },
};

function detail(body) {
  if (!body || body.detail === undefined) return "";
  if (typeof body.detail === "string") return body.detail;
  return body.detail.map((d) => d.msg).join("; ");
}

/** GET (or `options.method`) `path` with `params`; resolves to the JSON body, rejects with ApiError. */
export async function call(path, params = {}, options = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const token = options.token ?? tokens.api;
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, { method: options.method || "GET", headers, cache: "no-store",
      body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  } catch (error) {
    throw new ApiError("unreachable", `Edgewatch's API at ${location.origin} does not answer (${error.message}).`);
  }
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  if (response.ok) return body;
  const text = detail(body) || response.statusText;
  if (response.status === 401) throw new ApiError("unauthorized", text, 401);
  if (response.status === 403) throw new ApiError("forbidden", text, 403);
  if (response.status === 422) throw new ApiError("invalid", text, 422);
  throw new ApiError("server", `The API answered ${response.status}: ${text}`, response.status);
}
