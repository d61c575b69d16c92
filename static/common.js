// What the attendee and organizer pages share: calling the edge's API
// (docs/api.md) with RFC 9457 problems turned into errors that name their
// fields, building DOM without innerHTML, form fields, JSON kept in storage,
// and showing instants in a chosen IANA zone. Writing (retries, field
// errors) is in forms.js, which a first visit does not load.

/** An answer the API refused, with its problem details. */
export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super(problem?.detail || problem?.title || `The server answered ${status}.`);
    this.status = status;
    this.problem = problem;
    this.fieldErrors = Array.isArray(problem?.errors) ? problem.errors : [];
    this.retryAfter = retryAfter;
  }
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date). */
function retryAfterSeconds(value) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/**
 * One API call. JSON bodies are sent as JSON; the answer is parsed by its
 * content type. Anything but 2xx throws an ApiError; a network failure
 * throws the browser's TypeError.
 */
export async function api(
  path,
  { method = "GET", body, token, headers = {}, accept = "application/json", cache } = {},
) {
  const init = { method, headers: { accept, ...headers } };
  if (cache) init.cache = cache;
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  if (token) init.headers.authorization = `Bearer ${token}`;
  const response = await fetch(path, init);
  const type = response.headers.get("content-type") || "";
  let data = null;
  if (response.status !== 204 && response.status !== 304) {
    data = type.includes("json") ? await response.json().catch(() => null) : await response.text();
  }
  if (!response.ok) {
    const problem = data && typeof data === "object" ? data : null;
    throw new ApiError(
      response.status,
      problem,
      retryAfterSeconds(response.headers.get("retry-after")),
    );
  }
  return { data, headers: response.headers, status: response.status };
}

/** `h("a", {href: "/x"}, "text", child)`: an element, children as text or nodes. */
export function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    // Through the CSSOM, which a Content-Security-Policy without
    // 'unsafe-inline' styles still allows.
    else if (name === "style") node.style.cssText = value;
    else if (name in node && typeof node[name] !== "function" && !name.includes("-")) {
      try {
        node[name] = value;
      } catch {
        node.setAttribute(name, value); // a read-only property such as `list`
      }
    } else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** A labelled form field, with an optional hint under its label. */
export function field(id, label, input, hint) {
  return h(
    "div",
    { className: "field" },
    h("label", { htmlFor: id }, label),
    hint ? h("p", { className: "hint", id: `${id}-hint` }, hint) : null,
    input,
  );
}

/** The JSON stored under `key`, or `fallback` when there is none or it does not parse. */
export function readJson(storage, key, fallback) {
  try {
    return JSON.parse(storage.getItem(key)) ?? fallback;
  } catch {
    return fallback;
  }
}

const formatters = new Map();
function formatter(zone, options) {
  const key = zone + JSON.stringify(options);
  if (!formatters.has(key)) {
    formatters.set(key, new Intl.DateTimeFormat("en-GB", { timeZone: zone, ...options }));
  }
  return formatters.get(key);
}

/** `09:30` in `zone`. */
export function clock(instant, zone) {
  return formatter(zone, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(
    new Date(instant),
  );
}

/** `2027-06-08`: the date of `instant` in `zone`. */
export function dateIn(instant, zone) {
  const parts = formatter(zone, {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).formatToParts(new Date(instant));
  const part = (type) => parts.find((p) => p.type === type).value;
  return `${part("year")}-${part("month")}-${part("day")}`;
}

/** `Tuesday 8 June` for a `2027-06-08` date. */
export function longDate(date) {
  return formatter("UTC", { weekday: "long", day: "numeric", month: "long" }).format(
    new Date(`${date}T12:00:00Z`),
  );
}

/** The zone's offset from UTC in minutes at `instant`. */
function offsetMinutes(instant, zone) {
  const parts = formatter(zone, {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
  }).formatToParts(new Date(instant));
  const part = (type) => Number(parts.find((p) => p.type === type).value);
  const wall = Date.UTC(
    part("year"),
    part("month") - 1,
    part("day"),
    part("hour"),
    part("minute"),
    part("second"),
  );
  return Math.round((wall - Math.floor(instant / 1000) * 1000) / 60000);
}

/** `2027-06-08T09:00` as wall time in `zone` → RFC 3339 with the zone's offset. */
export function wallTimeToRfc3339(wall, zone) {
  const asUtc = Date.parse(`${wall}:00Z`);
  if (Number.isNaN(asUtc)) return wall;
  // The offset at the guessed instant, corrected once across a DST change.
  let offset = offsetMinutes(asUtc - offsetMinutes(asUtc, zone) * 60000, zone);
  const sign = offset < 0 ? "-" : "+";
  offset = Math.abs(offset);
  const pad = (n) => String(n).padStart(2, "0");
  return `${wall}:00${sign}${pad(Math.floor(offset / 60))}:${pad(offset % 60)}`;
}

/** An RFC 3339 instant as `2027-06-08T09:00` wall time in `zone`, for datetime-local inputs. */
export function rfc3339ToWallTime(instant, zone) {
  if (!instant) return "";
  return `${dateIn(instant, zone)}T${clock(instant, zone)}`;
}

/** The city part of an IANA zone, for labels: `America/New_York` → `New York`. */
export function zoneCity(zone) {
  return zone.split("/").pop().replaceAll("_", " ");
}
