// Renders /openapi.json as a page: one section per operation, its parameters, body and answers.
// Loaded from this origin, it builds the page with DOM calls only (text, never HTML), so it
// runs under the app's strict Content-Security-Policy (no inline script, no other origin).
"use strict";

const MAX_DEPTH = 6; // nested schemas deeper than this are named, not expanded

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

// `code` spans in descriptions, as text nodes and <code> elements (never parsed as HTML).
function prose(tag, text) {
  const node = el(tag, {});
  String(text || "").split("`").forEach((part, i) => node.append(i % 2 ? el("code", {}, part) : part));
  return node;
}

function resolve(spec, schema) {
  const ref = schema && schema.$ref;
  if (!ref || !ref.startsWith("#/")) return schema || {};
  return ref.slice(2).split("/").reduce((node, key) => (node ? node[key] : undefined), spec) || {};
}

function refName(schema) {
  return schema && schema.$ref ? schema.$ref.split("/").pop() : null;
}

function typeOf(spec, schema) {
  const name = refName(schema);
  if (name) return name;
  const s = schema || {};
  const options = s.anyOf || s.oneOf;
  if (options) return options.map((o) => typeOf(spec, o)).join(" | ");
  if (s.type === "array") return `array of ${typeOf(spec, s.items)}`;
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (s.const !== undefined) return JSON.stringify(s.const);
  let text = s.type || "any";
  if (s.format) text += ` (${s.format})`;
  return text;
}

function constraints(schema) {
  const s = schema || {};
  const parts = [];
  if (s.minimum !== undefined) parts.push(`≥ ${s.minimum}`);
  if (s.maximum !== undefined) parts.push(`≤ ${s.maximum}`);
  if (s.minLength !== undefined) parts.push(`min length ${s.minLength}`);
  if (s.maxLength !== undefined) parts.push(`max length ${s.maxLength}`);
  if (s.minItems !== undefined) parts.push(`min items ${s.minItems}`);
  if (s.maxItems !== undefined) parts.push(`max items ${s.maxItems}`);
  if (s.pattern) parts.push(`pattern ${s.pattern}`);
  return parts.length ? ` [${parts.join(", ")}]` : "";
}

function objectOf(spec, schema, depth) {
  // The object schema inside a $ref, an array, or an optional (X | null), if any.
  if (depth > MAX_DEPTH) return null;
  const s = resolve(spec, schema);
  if (s.properties) return s;
  if (s.type === "array" && s.items) return objectOf(spec, s.items, depth + 1);
  for (const option of s.anyOf || s.oneOf || []) {
    const found = objectOf(spec, option, depth + 1);
    if (found) return found;
  }
  return null;
}

function schemaList(spec, schema, depth) {
  const object = objectOf(spec, schema, depth);
  if (!object) return el("p", {}, el("span", { class: "type" }, typeOf(spec, schema)));
  const required = new Set(object.required || []);
  const list = el("ul", { class: "schema" });
  for (const [name, prop] of Object.entries(object.properties)) {
    const item = el(
      "li",
      {},
      el("code", {}, name),
      " ",
      el("span", { class: "type" }, typeOf(spec, prop) + constraints(resolve(spec, prop))),
      required.has(name) ? el("span", { class: "required" }, " required") : null,
      prop.description ? prose("span", ` — ${prop.description}`) : null,
    );
    if (depth < MAX_DEPTH && objectOf(spec, prop, depth + 1)) {
      item.append(schemaList(spec, prop, depth + 1));
    }
    list.append(item);
  }
  return list;
}

function parametersTable(spec, parameters) {
  const table = el("table", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "in"),
    el("th", {}, "type"), el("th", {}, "")));
  for (const p of parameters) {
    table.append(el("tr", {},
      el("td", {}, el("code", {}, p.name), p.required ? el("span", { class: "required" }, " required") : null),
      el("td", {}, p.in),
      el("td", { class: "type" }, typeOf(spec, p.schema) + constraints(p.schema)),
      el("td", {}, p.description || "")));
  }
  return table;
}

function operationSection(spec, path, method, op) {
  const id = op.operationId || `${method}_${path}`;
  const section = el("section", { class: "operation", id },
    el("h3", {}, el("span", { class: `method ${method}` }, method), el("span", { class: "path" }, path),
      op.security && op.security.length ? el("span", { class: "lock" }, "needs a bearer token") : null),
    el("p", {}, el("strong", {}, op.summary || "")));
  if (op.description) section.append(prose("p", op.description));
  if (op.parameters && op.parameters.length) {
    section.append(el("h4", {}, "Parameters"), parametersTable(spec, op.parameters));
  }
  const body = op.requestBody && op.requestBody.content;
  if (body) {
    for (const [media, content] of Object.entries(body)) {
      section.append(el("h4", {}, `Body (${media})`), schemaList(spec, content.schema, 0));
    }
  }
  section.append(el("h4", {}, "Responses"));
  const answers = el("table", {});
  for (const [status, response] of Object.entries(op.responses || {})) {
    const media = Object.keys(response.content || {});
    const schema = media.length ? response.content[media[0]].schema : null;
    answers.append(el("tr", {}, el("td", {}, el("code", {}, status)),
      prose("td", response.description),
      el("td", { class: "type" }, schema ? `${media.join(", ")}: ${typeOf(spec, schema)}` : "")));
  }
  section.append(answers);
  return section;
}

function render(spec) {
  document.getElementById("title").textContent = `${spec.info.title} API ${spec.info.version}`;
  document.getElementById("intro").append(" ", prose("span", spec.info.description));
  const main = document.getElementById("operations");
  const toc = el("ul", {});
  main.textContent = "";
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const section = operationSection(spec, path, method, op);
      toc.append(el("li", {}, el("a", { href: `#${section.id}` }, `${method.toUpperCase()} ${path}`)));
      main.append(section);
    }
  }
  const schemas = el("section", { id: "schemas" }, el("h2", {}, "Schemas"));
  for (const [name, schema] of Object.entries((spec.components || {}).schemas || {})) {
    schemas.append(el("h3", { id: `schema-${name}` }, name), schemaList(spec, schema, 0));
  }
  main.append(schemas);
  document.getElementById("toc").append(toc);
  document.body.setAttribute("data-rendered", String(main.querySelectorAll("section.operation").length));
}

async function main() {
  const status = document.getElementById("status");
  const url = document.getElementById("operations").getAttribute("data-spec");
  try {
    const answer = await fetch(url, { headers: { Accept: "application/json" } });
    if (!answer.ok) throw new Error(`${url}: HTTP ${answer.status}`);
    render(await answer.json());
  } catch (error) {
    status.className = "error";
    status.textContent = `Could not load the API description: ${error.message}`;
  }
}

main();
