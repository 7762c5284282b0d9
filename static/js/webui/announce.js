/** Announce: a message and its type, previewed, sent to every player. */
import { $, command, el, formatTime, onReady, servers } from "./app.js";
import { feedEntries, onFeed } from "./feed.js";

const form = $("#announce-form");
const message = $("#announce-message");
const TITLES = { info: "Info", warning: "Warning", error: "Error" };

function preview() {
  const type = form.elements.type.value;
  $("#preview").dataset.type = type;
  $("#preview-title").textContent = TITLES[type];
  $("#preview-text").textContent = message.value.trim() || "Your message appears here.";
  $("#announce-left").textContent = `${500 - message.value.length} characters left`;
}
form.addEventListener("input", preview);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = { message: message.value.trim(), type: form.elements.type.value };
  if (!data.message) return;
  if ($("#announce-all").checked && !$("#announce-everywhere").hidden) data.server = "*"; // every server online
  const button = $("#announce-send");
  button.disabled = true;
  if (await command("announce", data, "announce")) {
    form.reset();
    preview();
  }
  button.disabled = false;
});

function item(entry) {
  return el("li", {},
    el("time", {}, formatTime(entry.at)),
    el("span", {}, el("span", { class: `badge badge-${entry.kind}` }, TITLES[entry.kind] || entry.kind)),
    el("span", {}, entry.text.replace(/^Announcement: /, "")));
}
const history = $("#announce-history");
const shown = feedEntries().filter((e) => e.event === "announcement").reverse();
history.replaceChildren(...shown.map(item));
$("#announce-empty").hidden = shown.length > 0;
onFeed((entry) => {
  if (entry.event !== "announcement") return;
  history.prepend(item(entry));
  $("#announce-empty").hidden = true;
});
preview();

// With several game servers, the announcement may go to all of them (server "*").
onReady(async () => {
  $("#announce-everywhere").hidden = (await servers.load()).length < 2;
});
