/* Builds DOM for the popup and the options page. Every string goes in as textContent or as an
 * attribute value: nothing is ever parsed as HTML, so a URL or company name holding markup shows
 * as text. */

export function el(doc, tag, props = {}, children = []) {
  const node = doc.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "text") node.textContent = value;
    else if (name === "className") node.className = value;
    else if (name === "onclick") node.addEventListener("click", value);
    else if (name === "checked" || name === "disabled") node[name] = Boolean(value);
    else if (name === "value") node.value = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}
