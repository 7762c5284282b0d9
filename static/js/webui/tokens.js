/** Tokens page: copy the token shown once; confirm before revoking. */
import { $, $$, notify } from "./app.js";

const copy = $("#copy-token");
if (copy) {
  copy.addEventListener("click", async () => {
    const input = $("#minted-token");
    try {
      await navigator.clipboard.writeText(input.value);
      notify("success", "Token copied to the clipboard.");
    } catch {
      input.select();
      notify("info", "Press Ctrl+C to copy the selected token.");
    }
  });
}

for (const form of $$("form[data-confirm]")) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}
