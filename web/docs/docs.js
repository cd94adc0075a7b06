// Renders /openapi.json as a plain list of operations with their request schemas.
// Text only (textContent), never innerHTML: the document is data, not markup.

const el = (tag, text, attrs = {}) => {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
};

// Follows local $refs one level so each operation shows its intent's fields.
const resolve = (doc, schema) => {
  const ref = schema && schema.$ref;
  if (!ref || !ref.startsWith("#/components/schemas/")) return schema;
  return doc.components.schemas[ref.slice("#/components/schemas/".length)] || schema;
};

const render = (doc) => {
  const ops = document.getElementById("ops");
  const toc = document.getElementById("toc");
  ops.replaceChildren();
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ path, method, op });
    }
  }
  const tocList = el("ul");
  for (const [tag, list] of byTag) {
    const id = `tag-${tag}`;
    const li = el("li");
    li.append(el("a", `${tag} (${list.length})`, { href: `#${id}` }));
    tocList.append(li);
    const section = el("section", undefined, { id });
    section.append(el("h2", tag));
    for (const { path, method, op } of list) {
      const details = el("details", undefined, { id: op.operationId || path });
      details.append(el("summary", `${method.toUpperCase()} ${path} — ${op.summary || ""}`));
      if (op.description) details.append(el("p", op.description));
      const body = op.requestBody && op.requestBody.content["application/json"];
      if (body) {
        const schema = resolve(doc, body.schema);
        details.append(el("h3", "Request body"));
        details.append(el("pre", JSON.stringify(schema, null, 2)));
        const params = schema.properties && schema.properties.parameters;
        if (params) {
          details.append(el("h3", "parameters"));
          details.append(el("pre", JSON.stringify(resolve(doc, params), null, 2)));
        }
      }
      section.append(details);
    }
    ops.append(section);
  }
  toc.replaceChildren(tocList);
};

fetch("/openapi.json")
  .then((r) => r.json())
  .then(render)
  .catch((e) => {
    document.getElementById("ops").replaceChildren(el("p", `Could not load /openapi.json: ${e}`));
  });
