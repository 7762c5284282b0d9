// The HTTP API's interactive reference: renders /api/v1/schema (generated from the event
// registry) and sends requests with the token typed into the page. No CDN, no inline code.

const schemaUrl = document.body.dataset.schemaUrl;
const root = document.getElementById("operations");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function example(schema) {
  if (!schema || typeof schema !== "object") return null;
  if (schema.examples) return schema.examples[0];
  if (schema.default !== undefined) return schema.default;
  if (schema.oneOf) return example(schema.oneOf[0]);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === "object") {
    const out = {};
    for (const name of schema.required || []) out[name] = example(schema.properties[name]);
    return out;
  }
  if (type === "array") return [];
  if (type === "integer" || type === "number") return schema.minimum ?? 1;
  if (type === "boolean") return true;
  if (schema.enum) return schema.enum[0];
  return "";
}

function operation(path, method, op) {
  const inputs = {};
  const rows = (op.parameters || []).filter((p) => p.in !== "header").map((p) => {
    const input = el("input", { name: p.name, placeholder: p.required ? "required" : "optional" });
    inputs[p.name] = [p, input];
    return el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in), el("td", {}, input));
  });
  const idem = (op.parameters || []).find((p) => p.name === "Idempotency-Key");
  const idemInput = idem ? el("input", { placeholder: "Idempotency-Key (optional)" }) : null;
  const bodySchema = op.requestBody?.content?.["application/json"]?.schema;
  const body = bodySchema ? el("textarea", { spellcheck: "false" }) : null;
  if (body) body.value = JSON.stringify(example(bodySchema), null, 2);
  const output = el("pre", {}, "");
  const send = el("button", { type: "button" }, "Send");
  send.addEventListener("click", async () => {
    let url = path;
    const query = new URLSearchParams();
    for (const [name, [param, input]] of Object.entries(inputs)) {
      if (param.in === "path") url = url.replace(`{${name}}`, encodeURIComponent(input.value));
      else if (input.value !== "") query.set(name, input.value);
    }
    if ([...query].length) url += `?${query}`;
    const headers = { Accept: "application/json" };
    const token = document.getElementById("token").value.trim();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (idemInput && idemInput.value) headers["Idempotency-Key"] = idemInput.value;
    const init = { method: method.toUpperCase(), headers };
    if (body) { headers["Content-Type"] = "application/json"; init.body = body.value; }
    output.textContent = "…";
    try {
      const response = await fetch(url, init);
      const text = await response.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch { /* not JSON */ }
      output.textContent = `${response.status} ${response.statusText}\n${shown}`;
    } catch (error) {
      output.textContent = String(error);
    }
  });
  const statuses = Object.entries(op.responses).map(([status, r]) =>
    el("tr", {}, el("td", {}, status), el("td", {}, r.description)));
  return el("details", { class: "op", id: op.operationId },
    el("summary", {}, el("span", { class: `method ${method}` }, method.toUpperCase()),
      el("span", { class: "path" }, path), el("span", { class: "summary" }, op.summary)),
    el("div", { class: "body" },
      el("p", {}, op.description),
      rows.length ? el("table", {}, ...rows) : "",
      idemInput || "", body || "", el("div", {}, send),
      el("table", {}, ...statuses), output));
}

async function main() {
  const response = await fetch(schemaUrl);
  const doc = await response.json();
  root.replaceChildren();
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) root.append(operation(path, method, op));
  }
}

main().catch((error) => { root.textContent = `Could not load the API document: ${error}`; });
