/** Webhooks page: copy the new endpoint's secret; confirm before deleting. */
import { $, $$, notify } from "./app.js";

const copy = $("#copy-secret");
if (copy) {
  copy.addEventListener("click", async () => {
    const input = $("#id_secret");
    try {
      await navigator.clipboard.writeText(input.value);
      notify("success", "Secret copied to the clipboard.");
    } catch {
      input.select();
      notify("info", "Press Ctrl+C to copy the selected secret.");
    }
  });
}

for (const form of $$("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}
