// The control page's script. A file of its own, not inline in the page: the page's
// Content-Security-Policy runs only scripts served by this server.
// No framework and no build step: fetch the JSON routes, and write text (never HTML) into
// the page, since caller ids come from webhooks anyone could send.
const token = new URLSearchParams(location.search).get("token");
const headers = token ? { Authorization: "Bearer " + token } : {};
const $ = (id) => document.getElementById(id);
let stateUnreadable = false; // is the message shown "Could not read the conference state"?

function cell(label, text, className) {
  const td = document.createElement("td");
  td.dataset.label = label;
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

async function refresh() {
  try {
    const response = await fetch("status", { headers, cache: "no-store" });
    const state = await response.json();
    if (!response.ok) throw new Error(state.error || response.statusText);
    const rows = state.legs.slice().reverse().map((leg) => {
      const tr = document.createElement("tr");
      const playing = leg.uuid === state.streaming_on;
      tr.append(cell("Leg", leg.uuid + (playing ? " (music)" : ""), playing ? "playing" : ""),
                cell("From", leg.from || "unknown"),
                cell("Since", new Date(leg.since * 1000).toLocaleTimeString()),
                cell("Status", leg.role === "wait" && state.waiting_for_quorum
                  ? "on hold music" : "in the conference"));
      return tr;
    });
    $("legs").replaceChildren(...rows);
    $("empty").hidden = rows.length > 0;
    $("count").textContent = state.legs.length +
      (state.waiting_for_quorum ? " (on hold until " + state.quorum + " are in)" : "");
    // music_note: why no music plays (it ended with its caller, or could not follow them).
    $("music").textContent = state.streaming_on
      ? "playing on " + state.streaming_on : state.music_note || "not playing";
    if (stateUnreadable) show("", ""); // the store is back: the message no longer holds
  } catch (error) {
    show("error", "Could not read the conference state: " + error.message);
    stateUnreadable = true;
    $("empty").hidden = true; // unknown, not empty: the callers shown last may still be on
  }
}

function show(kind, text) {
  $("result").className = kind;
  $("result").textContent = text;
  stateUnreadable = false;
}

async function control(path, button, body) {
  // aria-busy rather than disabled: a disabled button would lose the keyboard focus.
  if (button.getAttribute("aria-busy") === "true") return;
  button.setAttribute("aria-busy", "true");
  show("", "Asking Vonage…");
  try {
    // With a body, a POST of JSON (/talk); else a GET (/stream, /stream/stop).
    const request = body === undefined ? { headers } : {
      method: "POST",
      headers: { ...headers, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    };
    const response = await fetch(path, { ...request, cache: "no-store" });
    const answer = await response.json();
    if (response.ok) show("ok", answer.message + " (leg " + answer.uuid + ")");
    else show("error", answer.error || response.statusText);
  } catch (error) {
    show("error", "The server did not answer: " + error.message);
  } finally {
    button.removeAttribute("aria-busy");
    refresh();
  }
}

$("play").addEventListener("click", (event) => control("stream", event.currentTarget));
$("stop").addEventListener("click", (event) => control("stream/stop", event.currentTarget));
$("say-it").addEventListener("click", (event) => control("talk", event.currentTarget, {
  text: $("say-text").value,
  language: $("say-language").value || undefined,
}));
$("hush").addEventListener("click", (event) => control("talk/stop", event.currentTarget, {}));
refresh();
setInterval(refresh, 3000);
