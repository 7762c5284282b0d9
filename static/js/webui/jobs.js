/** Jobs: every job with its grades; create, edit and delete with jobs.manage. */
import { $, attempt, client, command, confirmDialog, el, formatMoney, onReady } from "./app.js";

const filter = $("#job-filter");
let jobs = [];

function row(job) {
  const manage = client.can("jobs.manage");
  return el(
    "tr",
    { dataset: { job: job.name } },
    el("td", {}, el("code", {}, job.name)),
    el("td", { class: "player-name" }, job.label),
    el("td", {}, job.grades.length
      ? el("ul", { class: "grades" }, job.grades.map((g) => el("li", { title: g.name }, el("b", {}, g.grade), " ", g.label || g.name, g.salary ? ` · ${formatMoney(g.salary)}` : "")))
      : el("span", { class: "muted" }, "no grades")),
    el("td", { class: "actions" }, manage ? [
      el("button", { type: "button", class: "btn btn-sm", dataset: { action: "edit" } }, "Edit"),
      el("button", { type: "button", class: "btn btn-sm btn-outline-danger", dataset: { action: "delete" } }, "Delete"),
    ] : ""),
  );
}

function render() {
  const needle = filter.value.trim().toLowerCase();
  const shown = jobs.filter((j) => !needle || j.name.includes(needle) || j.label.toLowerCase().includes(needle));
  const rows = shown.map(row);
  if (!rows.length) rows.push(el("tr", { class: "table-empty" }, el("td", { colspan: 4 }, jobs.length ? "No job matches the filter." : "No jobs yet.")));
  $("#job-rows").replaceChildren(...rows);
  $("#job-count").textContent = `${jobs.length} job${jobs.length === 1 ? "" : "s"}`;
}

async function load() {
  jobs = (await client.request("getJobs")).data.jobs;
  render();
}

filter.addEventListener("input", render);
client.on("jobsChanged", () => attempt(load));
client.onState(render);

// -- the job editor ----------------------------------------------------------------------

const gradeRows = $("#grade-rows");

function gradeRow(grade = {}) {
  const remove = el("button", { type: "button", class: "btn btn-sm btn-ghost", "aria-label": "Remove grade" }, "×");
  const node = el("div", { class: "grade-row", dataset: { grade: "" } },
    el("input", { type: "number", min: 0, max: 1000, required: true, value: grade.grade ?? nextGrade(), "aria-label": "Grade number" }),
    el("input", { type: "text", required: true, maxlength: 50, value: grade.name ?? "", placeholder: "recruit", "aria-label": "Grade name" }),
    el("input", { type: "text", maxlength: 100, value: grade.label ?? "", placeholder: "Recruit", "aria-label": "Grade label" }),
    el("input", { type: "number", min: 0, value: grade.salary ?? 0, "aria-label": "Salary" }),
    remove,
  );
  remove.addEventListener("click", () => node.remove());
  return node;
}

function nextGrade() {
  const numbers = [...gradeRows.querySelectorAll("[data-grade] input:first-child")].map((i) => Number(i.value) || 0);
  return numbers.length ? Math.max(...numbers) + 1 : 0;
}

function readGrades() {
  return [...gradeRows.querySelectorAll("[data-grade]")].map((node) => {
    const [grade, name, label, salary] = node.querySelectorAll("input");
    return { grade: Number(grade.value), name: name.value.trim(), label: label.value.trim(), salary: Number(salary.value) || 0 };
  });
}

$("#grade-add").addEventListener("click", () => gradeRows.append(gradeRow()));

async function edit(job) {
  const dialog = $("#job-dialog");
  const form = $("form", dialog);
  form.reset();
  $("#job-title").textContent = job ? `Edit ${job.name}` : "New job";
  form.elements.name.readOnly = Boolean(job);
  form.elements.name.value = job?.name ?? "";
  form.elements.label.value = job?.label ?? "";
  gradeRows.replaceChildren(gradeRows.firstElementChild, ...(job ? job.grades.map(gradeRow) : []));
  if (!job) gradeRows.append(gradeRow({ grade: 0 }));
  const values = await confirmDialog(dialog);
  if (!values) return;
  const data = { name: values.name.trim(), label: values.label.trim(), grades: readGrades() };
  if (await command(job ? "updateJob" : "createJob", data, `save job ${data.name}`)) await attempt(load);
}

async function remove(job) {
  const dialog = $("#job-delete-dialog");
  $("[data-fill=name]", dialog).textContent = job.name;
  if (!(await confirmDialog(dialog))) return;
  if (await command("deleteJob", { name: job.name }, `delete job ${job.name}`)) await attempt(load);
}

$("#job-new").addEventListener("click", () => edit(null));
$("#job-rows").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const job = jobs.find((j) => j.name === button.closest("tr").dataset.job);
  if (button.dataset.action === "edit") edit(job);
  else remove(job);
});

onReady(load);
