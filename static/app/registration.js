// Registering for the event (through its waiting room, when it has one:
// waiting.js): one Idempotency-Key per submission, retries
// that honour Retry-After with their progress shown, and the outcome: its
// manage link, or, when the event confirms by email, "check your inbox".
// The emailed confirmation link confirms and then shows the manage view;
// a manage link opens one registration (the token is in the URL's
// fragment, or kept in this browser): its status, cancelling it, and its
// picks of workshops and other sessions with seats (session-picks.js).

import { api, ApiError, h, field, readJson, clock, dateIn, longDate, zoneCity } from "/common.js";
import { withRetry, isRetryable, showFieldErrors, clearFieldErrors } from "/forms.js";
import { state, savedRegistrations, saveRegistration, forgetRegistration } from "/app/data.js";
import { announce, markCurrentNav, render } from "/app/page.js";
import { sessionPicks } from "/app/session-picks.js";
import { roomOf, ticketUsed, waitingView } from "/app/waiting.js";

const managePath = (entry) =>
  `/registrations/${encodeURIComponent(entry.id)}#token=${encodeURIComponent(entry.token)}`;

function outcomePanel(answer) {
  const confirmed = answer.status === "confirmed";
  return h(
    "div",
    {
      className: `outcome ${confirmed ? "ok" : "wait"}`,
      id: "outcome",
      role: "status",
      tabIndex: -1,
    },
    h(
      "h2",
      {},
      confirmed
        ? "You are registered: confirmed"
        : `You are on the waitlist: position ${answer.position}`,
    ),
    h(
      "p",
      {},
      confirmed
        ? "Your seat is confirmed."
        : "Every seat is taken. If someone cancels, the first person on the waitlist gets their seat. Your manage link always shows your current status.",
    ),
    h(
      "p",
      {},
      "Keep this link to see your status or cancel: ",
      h(
        "a",
        { href: managePath({ id: answer.id, token: answer.manage_token }), id: "manage-link" },
        "manage my registration",
      ),
      ".",
    ),
  );
}

// What the form says for every submission while the event confirms by
// email: the same for an address already registered, which the answer
// does not reveal; the email says what is true for that address.
function checkInboxPanel(answer, email, at) {
  return h(
    "div",
    { className: "outcome wait", id: "outcome", role: "status", tabIndex: -1 },
    h("h2", {}, "Check your inbox"),
    h(
      "p",
      {},
      `We sent an email to ${email}. Open the confirmation link in it by ${at(answer.hold_expires_at)} to make your registration yours; until then your place is held for you.`,
    ),
    h(
      "p",
      {},
      "If this address was already registered, the email brings the link to that registration instead. Nothing arrived? Check your spam folder, or submit the form again in a few minutes.",
    ),
  );
}

export async function registerView() {
  markCurrentNav("nav-register");
  const settings = state.event.registration || { open: false };
  const pendingKey = `eventfront:pending-registration:${state.slug}`;
  const mine = savedRegistrations().filter((r) => r.event === state.slug);
  const previous = mine.length
    ? h(
        "section",
        { "aria-labelledby": "mine-heading" },
        h("h2", { id: "mine-heading" }, "Registrations made in this browser"),
        h(
          "ul",
          {},
          mine.map((r) => h("li", {}, h("a", { href: managePath(r) }, `${r.name} — manage`))),
        ),
      )
    : null;
  const moment = Date.now();
  const zone = state.event.timezone;
  const at = (instant) =>
    `${longDate(dateIn(instant, zone))}, ${clock(instant, zone)} (${zoneCity(zone)} time)`;
  const closedBecause = !settings.open
    ? "Registration is closed."
    : settings.opens_at && moment < Date.parse(settings.opens_at)
      ? `Registration opens on ${at(settings.opens_at)}.`
      : settings.closes_at && moment >= Date.parse(settings.closes_at)
        ? `Registration closed on ${at(settings.closes_at)}.`
        : null;
  if (closedBecause) {
    return render("Register", [
      h("h1", {}, "Register"),
      h("p", { className: "notice" }, closedBecause),
      previous,
    ]);
  }
  // With a waiting room, the form opens for an admitted ticket only.
  const here = location.pathname;
  const room = await roomOf(state.slug);
  // The visitor went elsewhere meanwhile: nothing is shown over it.
  if (location.pathname !== here) return;
  const form = (more = {}) => registrationForm({ settings, pendingKey, previous, at, ...more });
  const wait = () =>
    waitingView({
      slug: state.slug,
      title: `Register for ${state.event.name}`,
      at,
      admitted: (ticket, until) => form({ ticket, until }),
      noRoom: () => form({ wait }),
    });
  return room ? wait() : form({ wait });
}

/**
 * The registration form, with the ticket that lets it register, if any, and
 * its time left; without one, `wait()` shows the waiting room should the
 * event turn out to have one.
 */
function registrationForm({
  settings,
  pendingKey,
  previous,
  at,
  ticket = null,
  until = null,
  wait = null,
}) {
  // What is being done is announced once per attempt; the countdown beside
  // it ticks visibly without being read out every second.
  const progressStatus = h("span", { role: "status", id: "progress-status" });
  const countdown = h("span", { "aria-hidden": "true", id: "progress-countdown" });
  const progress = h(
    "p",
    { id: "progress", className: "progress" },
    progressStatus,
    " ",
    countdown,
  );
  const showProgress = (text, ticking = "") => {
    announce(progressStatus, text);
    countdown.textContent = ticking;
  };
  const formError = h("div", { id: "form-error", role: "alert" });
  const form = h(
    "form",
    { id: "register-form", noValidate: true, "aria-describedby": "capacity" },
    field(
      "reg-name",
      "Full name",
      h("input", { id: "reg-name", name: "name", autocomplete: "name", required: true }),
    ),
    field(
      "reg-email",
      "Email",
      h("input", {
        id: "reg-email",
        name: "email",
        type: "email",
        autocomplete: "email",
        required: true,
        "aria-describedby": "reg-email-hint",
      }),
      "We use it only to tell you about this event.",
    ),
    h("button", { type: "submit", id: "register-button" }, "Register"),
    progress,
    formError,
  );
  const outcome = h("div", {});
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { name: form.elements.name.value.trim(), email: form.elements.email.value.trim() };
    if (ticket) body.ticket = ticket;
    // One key per submission: a retry of the same details reuses it, so the
    // origin answers a retried request exactly once.
    const pending = readJson(sessionStorage, pendingKey, null);
    const key =
      pending && JSON.stringify(pending.body) === JSON.stringify(body)
        ? pending.key
        : crypto.randomUUID();
    sessionStorage.setItem(pendingKey, JSON.stringify({ key, body }));
    clearFieldErrors(form);
    formError.replaceChildren();
    outcome.replaceChildren();
    const button = form.querySelector("#register-button");
    button.disabled = true;
    showProgress("Sending your registration…");
    try {
      const { data } = await withRetry(
        () =>
          api(`/api/events/${state.slug}/registrations`, {
            method: "POST",
            body,
            headers: { "idempotency-key": key },
          }),
        {
          onWait: ({ attempt, of, seconds, error }) => {
            const why = error instanceof ApiError ? "The server is busy" : "No connection";
            if (seconds > 0)
              showProgress(
                `${why}; trying again (attempt ${attempt} of ${of}).`,
                `Next try in ${seconds} s…`,
              );
            else showProgress(`Sending again (attempt ${attempt} of ${of})…`);
          },
        },
      );
      sessionStorage.removeItem(pendingKey);
      if (ticket) ticketUsed(state.slug);
      if (data.status !== "pending")
        saveRegistration({
          id: data.id,
          token: data.manage_token,
          event: state.slug,
          name: body.name,
        });
      showProgress("");
      form.hidden = true;
      outcome.replaceChildren(
        data.status === "pending" ? checkInboxPanel(data, body.email, at) : outcomePanel(data),
      );
      outcome.querySelector("#outcome").focus();
    } catch (error) {
      showProgress("");
      // The page did not know of a room (an old copy of the event): it
      // takes its place in line now.
      if (error instanceof ApiError && error.status === 403 && !ticket && wait) return wait();
      if (error instanceof ApiError && error.fieldErrors.length) {
        const rest = showFieldErrors(form, error.fieldErrors);
        if (rest.length)
          formError.append(h("p", { className: "error" }, rest.map((r) => r.message).join(" ")));
      } else {
        const why = error instanceof ApiError ? error.message : "The site could not be reached.";
        formError.append(
          h(
            "p",
            { className: "error" },
            `Your registration did not go through: ${why} `,
            isRetryable(error)
              ? "Your details are kept; press Register to try again — you will not be registered twice."
              : "",
          ),
        );
      }
    } finally {
      button.disabled = false;
    }
  });
  const capacity = [
    settings.capacity == null
      ? "There is no limit on seats."
      : `${settings.capacity} ${settings.capacity === 1 ? "seat" : "seats"}. When ${settings.capacity === 1 ? "it is" : "they are"} taken, you join the waitlist in order of arrival.`,
    settings.confirm_email
      ? ` We email you a link to confirm your registration; your place is held for ${settings.hold_minutes} minutes until you do.`
      : "",
  ].join("");
  render("Register", [
    h("h1", {}, `Register for ${state.event.name}`),
    until ? turnNotice(until, at) : null,
    h("p", { id: "capacity" }, capacity),
    form,
    outcome,
    previous,
  ]);
}

// An admitted ticket's time to register: said once, and counted down
// beside it without being read out every second.
function turnNotice(until, at) {
  const left = h("span", { "aria-hidden": "true", id: "turn-left" });
  const said = h("span", { role: "status" });
  const notice = h("p", { className: "notice", id: "turn" }, said, " ", left);
  // Written once the region is on the page, so that it is announced.
  requestAnimationFrame(() => announce(said, `It is your turn: register by ${at(until)}.`));
  const tick = () => {
    if (!notice.isConnected && left.textContent) return clearInterval(timer);
    const seconds = Math.max(0, Math.round((Date.parse(until) - Date.now()) / 1000));
    left.textContent = seconds
      ? `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")} left.`
      : "Your time has passed.";
  };
  const timer = setInterval(tick, 1000);
  tick();
  return notice;
}

// The link emailed to a held registration: confirms it, keeps its manage
// token in this browser, and shows it as its manage link would.
export async function confirmView(id) {
  markCurrentNav(null);
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  const fail = (text, ...more) =>
    render("Confirm your registration", [
      h("h1", {}, "Confirm your registration"),
      h("p", { role: "alert", id: "confirm-failed" }, text),
      ...more,
    ]);
  if (!token) return fail("This link is incomplete: it has no confirmation token.");
  let registration;
  try {
    ({ data: registration } = await withRetry(() =>
      api(`/api/registrations/${encodeURIComponent(id)}/confirm`, { method: "POST", token }),
    ));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404)
      return fail("This confirmation link is not valid.");
    if (error instanceof ApiError && error.status === 409)
      return fail(error.message, h("p", {}, h("a", { href: "/" }, "Back to the event")));
    throw error;
  }
  const entry = {
    id,
    token: registration.manage_token,
    event: registration.event,
    name: registration.name,
  };
  saveRegistration(entry);
  // The confirmation token leaves the address bar; the manage link takes it.
  history.replaceState(null, "", managePath(entry));
  return manageView(id, { confirmed: true });
}

export async function manageView(id, { confirmed = false } = {}) {
  markCurrentNav(null);
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  const token = fromHash || savedRegistrations().find((r) => r.id === id)?.token;
  if (!token)
    return render("Registration", [
      h("h1", {}, "Your registration"),
      h("p", { role: "alert" }, "This link is incomplete: it has no manage token."),
    ]);
  let registration;
  try {
    ({ data: registration } = await api(`/api/registrations/${encodeURIComponent(id)}`, { token }));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      return render("Registration", [
        h("h1", {}, "Your registration"),
        h("p", { role: "alert" }, "This manage link is not valid."),
      ]);
    }
    throw error;
  }
  const statusText = (r) =>
    r.status === "waitlisted" ? `waitlisted, position ${r.position}` : r.status;
  const status = h(
    "p",
    {
      id: "registration-status",
      className: `status-${registration.status}`,
      role: "status",
      tabIndex: -1,
    },
    `Status: ${statusText(registration)}`,
  );
  const actions = h("div", { className: "actions" });
  const manage = (query = "") => `/api/registrations/${encodeURIComponent(id)}${query}`;
  // A button that asks first, then runs `done` after the DELETE went
  // through (retried while the server is busy), or says why it did not.
  const askFirst = ({ id: buttonId, label, question, yes, query, failed, done, goneMeansDone }) => {
    const button = h("button", { type: "button", id: buttonId, className: "danger" }, label);
    button.addEventListener("click", () => {
      const confirm = h(
        "button",
        { type: "button", id: `confirm-${buttonId.split("-")[0]}`, className: "danger" },
        yes,
      );
      const keep = h("button", { type: "button", onclick: showActions }, "No, keep it");
      confirm.addEventListener("click", async () => {
        confirm.disabled = true;
        try {
          await withRetry(
            async (tried) => {
              try {
                return await api(manage(query), { method: "DELETE", token });
              } catch (error) {
                // A retry after an answer that was lost on the way: an
                // erasure that went through leaves no registration.
                if (goneMeansDone && tried > 1 && error instanceof ApiError && error.status === 404)
                  return null;
                throw error;
              }
            },
            {
              onWait: ({ seconds }) => {
                status.textContent = `The server is busy; trying again in ${seconds} s…`;
              },
            },
          );
          await done();
        } catch (error) {
          actions.querySelector(".error")?.remove();
          actions.append(
            h("p", { className: "error", role: "alert" }, `${failed}: ${error.message}`),
          );
          confirm.disabled = false;
        }
      });
      actions.replaceChildren(h("p", {}, question), confirm, " ", keep);
      confirm.focus();
    });
    return button;
  };
  // Erasing cancels too, and leaves nothing of the person at the origin.
  const erase = askFirst({
    id: "erase-registration",
    label: "Erase my data",
    question:
      "Erase your name and email address? This cancels the registration (your seat goes to the next person on the waitlist) and cannot be undone.",
    yes: "Yes, erase it",
    query: "?erase=true",
    goneMeansDone: true,
    failed: "Erasing did not work",
    done: () => {
      forgetRegistration(id);
      render("Registration erased", [
        h("h1", { id: "erased", tabIndex: -1 }, "Your data is erased"),
        h(
          "p",
          {},
          "Your registration is cancelled, and your name and email address are gone from our records; this link no longer opens anything. Emails already in your inbox stay there.",
        ),
        h("p", {}, h("a", { href: `/events/${registration.event}/` }, "Back to the event")),
      ]);
      document.getElementById("erased")?.focus();
    },
  });
  const cancel = askFirst({
    id: "cancel-registration",
    label: "Cancel my registration",
    question: "Cancel this registration? Your seat goes to the next person on the waitlist.",
    yes: "Yes, cancel it",
    failed: "Cancelling did not work",
    done: async () => {
      ({ data: registration } = await api(manage(), { token, cache: "no-store" }));
      status.className = `status-${registration.status}`;
      status.textContent = `Status: ${statusText(registration)}`;
      picks?.update(registration);
      showActions();
      status.focus();
    },
  });
  const showActions = () => {
    if (registration.status === "cancelled") {
      actions.replaceChildren(
        h(
          "p",
          {},
          "This registration is cancelled. You can ",
          h("a", { href: `/events/${registration.event}/register` }, "register again"),
          ".",
        ),
        erase,
      );
      return;
    }
    actions.replaceChildren(cancel, " ", erase);
  };
  showActions();
  const picks = await sessionPicks(registration, token, async () => {
    ({ data: registration } = await api(manage(), { token, cache: "no-store" }));
    return registration;
  });
  render("Your registration", [
    h("h1", {}, "Your registration"),
    confirmed
      ? h(
          "p",
          { className: "notice", id: "confirmed-notice" },
          registration.status === "waitlisted"
            ? "Thank you: your address is confirmed, and you are on the waitlist. Keep this page's link to see your status or cancel; if a seat comes free, it goes to the first in line and we write to you."
            : "Thank you: your registration is confirmed. Keep this page's link to see your status or cancel.",
        )
      : null,
    h(
      "dl",
      { className: "facts" },
      h("dt", {}, "Name"),
      h("dd", {}, registration.name),
      h("dt", {}, "Email"),
      h("dd", {}, registration.email),
      h("dt", {}, "Event"),
      h("dd", {}, h("a", { href: `/events/${registration.event}/` }, registration.event)),
    ),
    status,
    actions,
    picks,
  ]);
}
