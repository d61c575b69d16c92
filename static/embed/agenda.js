// Eventfront's embeddable agenda. One tag on any site:
//   <script type="module" src="https://EDGE/embed/agenda.js" data-event="SLUG"></script>
// renders the published agenda after the tag, inside a shadow root (the
// host page's styles cannot break it, nor its styles the page), with day
// and track filters and links to each session's page on the edge. Theme it
// from the host page with CSS custom properties on `eventfront-agenda`:
// --ef-font, --ef-text, --ef-muted, --ef-background, --ef-accent, --ef-border.
// Reads are plain GETs the browser may cache and revalidates with their
// ETags (`cache: "no-cache"`), so a repeat visit costs 304s.

const EDGE = new URL(import.meta.url).origin;

const STYLE = `
:host { display: block; font: 1rem/1.4 var(--ef-font, system-ui, sans-serif);
  color: var(--ef-text, #1d1d1f); background: var(--ef-background, transparent); }
form { display: flex; flex-wrap: wrap; gap: .75rem; margin-bottom: .75rem; }
label { display: flex; flex-direction: column; font-size: .85rem; color: var(--ef-muted, #555); }
select { font: inherit; padding: .25rem; }
ol { list-style: none; margin: 0; padding: 0; }
li { display: grid; grid-template-columns: 7.5rem 1fr; gap: .5rem; padding: .5rem 0;
  border-top: 1px solid var(--ef-border, #ddd); }
time { font-variant-numeric: tabular-nums; white-space: nowrap; color: var(--ef-muted, #555); }
a { color: var(--ef-accent, #0b57d0); font-weight: 600; }
.where { display: block; font-size: .85rem; color: var(--ef-muted, #555); }
p { margin: .5rem 0; }
`;

/** The JSON at `path` on the edge, revalidated with its ETag. */
async function read(path) {
  const response = await fetch(`${EDGE}${path}`, { cache: "no-cache" });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

/** Parts of an RFC 3339 time as written in the event's zone: no conversion. */
const day = (time) => time.slice(0, 10);
const clock = (time) => time.slice(11, 16);

function element(name, attributes = {}, ...children) {
  const node = document.createElement(name);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter(Boolean));
  return node;
}

function choice(label, name, options) {
  const select = element("select", { name });
  select.append(element("option", { value: "", text: `Every ${label.toLowerCase()}` }));
  for (const [value, text] of options) select.append(element("option", { value, text }));
  return [element("label", {}, label, select), select];
}

async function render(host, slug) {
  const root = host.attachShadow({ mode: "open" });
  root.append(element("style", { text: STYLE }));
  const status = element("p", { role: "status", text: "Loading the agenda…" });
  root.append(status);
  let event;
  let sessions;
  try {
    [event, { sessions }] = await Promise.all([
      read(`/api/events/${encodeURIComponent(slug)}`),
      read(`/api/events/${encodeURIComponent(slug)}/sessions`),
    ]);
  } catch {
    status.textContent = "The agenda cannot be shown right now.";
    return;
  }
  const names = (list) => new Map((list ?? []).map((item) => [item.id, item.name]));
  const tracks = names(event.tracks);
  const rooms = names(event.rooms);
  const days = [...new Set(sessions.map((s) => day(s.starts_at)))].sort();
  const [dayLabel, dayChoice] = choice(
    "Day",
    "day",
    days.map((d) => [d, d]),
  );
  const [trackLabel, trackChoice] = choice("Track", "track", [...tracks]);
  const heading = element("h2", { text: event.name });
  const list = element("ol", { "aria-label": `${event.name} agenda` });
  const show = () => {
    const shown = sessions.filter(
      (s) =>
        (!dayChoice.value || day(s.starts_at) === dayChoice.value) &&
        (!trackChoice.value || s.track === trackChoice.value),
    );
    list.replaceChildren(
      ...shown.map((s) =>
        element(
          "li",
          {},
          element("time", {
            datetime: s.starts_at,
            text: `${clock(s.starts_at)}–${clock(s.ends_at)}`,
          }),
          element(
            "div",
            {},
            element("a", {
              href: `${EDGE}/events/${encodeURIComponent(slug)}/sessions/${encodeURIComponent(s.id)}`,
              text: s.title,
            }),
            element("span", {
              class: "where",
              text: [rooms.get(s.room), tracks.get(s.track)].filter(Boolean).join(" · "),
            }),
          ),
        ),
      ),
    );
    status.textContent = `${shown.length} of ${sessions.length} sessions, times in ${event.timezone}.`;
  };
  dayChoice.addEventListener("change", show);
  trackChoice.addEventListener("change", show);
  root.replaceChildren(
    root.firstChild,
    heading,
    element("form", {}, dayLabel, trackLabel),
    status,
    list,
  );
  show();
}

// Every tag that loads this module gets its agenda, once.
for (const script of document.querySelectorAll("script[data-event]")) {
  if (script.src !== import.meta.url || script.dataset.rendered) continue;
  script.dataset.rendered = "true";
  const host = element("eventfront-agenda");
  script.after(host);
  render(host, script.dataset.event);
}
