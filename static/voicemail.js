// The voicemail page's script: Delete. A file of its own, as the page's policy (CSP) runs only
// scripts served by this server; it writes text, never HTML.
const token = new URLSearchParams(location.search).get("token");
const headers = token ? { Authorization: "Bearer " + token } : {};
const result = document.getElementById("result");

async function remove(row, button) {
  if (button.getAttribute("aria-busy") === "true") return;
  button.setAttribute("aria-busy", "true");
  try {
    const response = await fetch("messages/" + encodeURIComponent(row.dataset.id),
                                 { method: "DELETE", headers, cache: "no-store" });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || response.statusText);
    row.remove();
    result.className = "ok";
    result.textContent = "Message deleted";
    document.getElementById("empty").hidden = document.querySelector("#messages tr") !== null;
  } catch (error) {
    result.className = "error";
    result.textContent = "Could not delete the message: " + error.message;
  } finally {
    button.removeAttribute("aria-busy");
  }
}

for (const button of document.querySelectorAll("button.delete")) {
  button.addEventListener("click", () => remove(button.closest("tr"), button));
}
