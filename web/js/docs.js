// The API docs at /docs: server/openapi.json, fetched and laid out for people. The document is the one source;
// nothing here repeats it. Built with DOM calls only (no innerHTML), under the server's CSP.
import { $ } from './dom.js';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

// An element with a class and children (strings become text).
function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children.filter((child) => child !== null && child !== undefined && child !== ''));
  return node;
}

// Text with `code` in backticks, as the document writes it, as nodes.
const inline = (text) =>
  String(text || '')
    .split('`')
    .map((part, i) => (i % 2 ? el('code', '', part) : part))
    .filter((part) => part !== '');

const prose = (text, tag = 'p', className = '') => el(tag, className, ...inline(text));

const anchor = (...parts) => parts.join('-').replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '');

function link(href, ...children) {
  const a = el('a', '', ...children);
  a.href = href;
  return a;
}

const badge = (method) => el('span', `method method-${method}`, method.toUpperCase());

// The object a local $ref ("#/components/schemas/Error") points at, or the value itself.
function resolve(spec, value) {
  if (!value || typeof value.$ref !== 'string') return value || {};
  const keys = value.$ref.replace(/^#\//, '').split('/').map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
  return keys.reduce((node, key) => (node ? node[key] : undefined), spec) || {};
}

// An object's keys grouped by equal values, in order: [[keys, value], ...].
function sameValues(map) {
  const groups = new Map();
  for (const [key, value] of Object.entries(map || {})) {
    const id = JSON.stringify(value);
    if (!groups.has(id)) groups.set(id, [[], value]);
    groups.get(id)[0].push(key);
  }
  return [...groups.values()];
}

// A schema's type in a few words: "integer 0–9", "array of 10 number", "binary"; a $ref links to its schema.
function typeOf(schema) {
  if (schema.$ref) {
    const name = schema.$ref.split('/').pop();
    return el('span', 'type', link(`#${anchor('schema', name)}`, name));
  }
  let text = schema.type || (schema.oneOf ? 'one of' : schema.anyOf ? 'any of' : schema.allOf ? 'all of' : 'any');
  if (schema.format === 'binary') text = 'binary';
  else if (schema.format) text += ` (${schema.format})`;
  if (schema.minimum !== undefined && schema.maximum !== undefined) text += ` ${schema.minimum}–${schema.maximum}`;
  if (schema.type !== 'array') return el('span', 'type', text);
  const [least, most] = [schema.minItems, schema.maxItems];
  let count = '';
  if (least !== undefined && least === most) count = `${least} × `;
  else if (most !== undefined) count = `up to ${most} × `;
  else if (least !== undefined) count = `at least ${least} × `;
  return el('span', 'type', `array of ${count}`, typeOf(schema.items || {}));
}

// What a schema holds: its fields (with nested objects and array items), its alternatives and allowed values.
function schemaBody(schema) {
  const parts = [];
  if (schema.enum) {
    const values = schema.enum.flatMap((v, i) => [i ? ' ' : '', el('code', 'value', String(v))]);
    parts.push(el('p', 'enum', 'One of: ', ...values));
  }
  const inner = schema.type === 'array' && schema.items && !schema.items.$ref ? schema.items : schema;
  const alternatives = inner.oneOf || inner.anyOf || inner.allOf;
  if (alternatives) {
    const items = alternatives.map((alt) => el('li', '', typeOf(alt), ...schemaBody(alt)));
    parts.push(el('ol', 'alternatives', ...items));
  }
  if (inner !== schema && inner.enum) parts.push(...schemaBody({ enum: inner.enum }));
  if (inner.properties) parts.push(fields(inner));
  return parts;
}

function fields(schema) {
  const required = new Set(schema.required || []);
  return el(
    'ul',
    'fields',
    ...Object.entries(schema.properties).map(([name, field]) =>
      el(
        'li',
        'field',
        el(
          'div',
          'field-head',
          el('code', 'field-name', name),
          ' ',
          typeOf(field),
          required.has(name) ? el('span', 'required', 'required') : null,
        ),
        field.description ? prose(field.description, 'p', 'field-doc') : null,
        ...schemaBody(field),
      ),
    ),
  );
}

// Each media type with what it carries; types with the same schema (the raw image formats) share one line.
function content(map) {
  return el(
    'ul',
    'media',
    ...sameValues(map).map(([types, { schema }]) =>
      el(
        'li',
        '',
        el('div', 'media-types', ...types.flatMap((t, i) => [i ? ', ' : '', el('code', 'media-type', t)])),
        schema ? el('div', 'media-schema', typeOf(schema), ...schemaBody(schema)) : null,
      ),
    ),
  );
}

function parametersTable(parameters) {
  const rows = parameters.map((p) =>
    el(
      'tr',
      '',
      el('td', '', el('code', '', p.name)),
      el('td', '', p.in),
      el('td', '', typeOf(p.schema || {})),
      el('td', '', p.required ? 'required' : 'optional'),
      el('td', '', prose(p.description, 'span')),
    ),
  );
  const head = el('tr', '', ...['Name', 'In', 'Type', '', 'Description'].map((h) => el('th', '', h)));
  return el('table', 'params', el('thead', '', head), el('tbody', '', ...rows));
}

// One row per distinct response; statuses that share one (the errors, as a rule) share its row.
function responses(spec, map) {
  const rows = sameValues(map).map(([statuses, value]) => {
    const target = resolve(spec, value);
    const codes = statuses.map((status) => {
      const code = el('code', /^[45]/.test(status) ? 'status status-error' : 'status', status);
      code.dataset.status = status;
      return code;
    });
    return el(
      'tr',
      '',
      el('th', '', el('span', 'statuses', ...codes)),
      el('td', '', prose(target.description, 'span'), target.content ? content(target.content) : null),
    );
  });
  return el('table', 'responses', el('tbody', '', ...rows));
}

function operation(spec, path, method, op, shared) {
  const section = el('section', 'card operation');
  section.id = anchor(method, path);
  section.dataset.path = path;
  section.dataset.method = method;
  section.append(el('h2', 'operation-title', badge(method), ' ', el('code', 'path', path)));
  if (op.summary) section.append(prose(op.summary, 'p', 'summary'));
  if (op.description) section.append(prose(op.description, 'p', 'description'));
  const parameters = [...(shared || []), ...(op.parameters || [])].map((p) => resolve(spec, p));
  if (parameters.length) section.append(el('h3', '', 'Parameters'), parametersTable(parameters));
  if (op.requestBody) {
    const body = resolve(spec, op.requestBody);
    section.append(el('h3', '', 'Request body', body.required ? el('span', 'required', 'required') : null));
    if (body.description) section.append(prose(body.description));
    section.append(content(body.content));
  }
  section.append(el('h3', '', 'Responses'), responses(spec, op.responses));
  return section;
}

function schemaSection(name, schema) {
  const section = el('section', 'card schema');
  section.id = anchor('schema', name);
  section.dataset.schema = name;
  section.append(el('h3', 'schema-title', el('code', '', name), ' ', typeOf(schema)));
  if (schema.description) section.append(prose(schema.description));
  section.append(...schemaBody(schema));
  return section;
}

function render(spec) {
  const info = spec.info || {};
  document.title = `${info.title || 'API'} · API docs`;
  $('api-title').textContent = info.title || 'API';
  $('api-description').replaceChildren(...inline(info.description));
  $('api-version').textContent = `API ${info.version || '?'} · OpenAPI ${spec.openapi || '?'}`;
  const toc = $('toc');
  const operations = $('operations');
  for (const [path, item] of Object.entries(spec.paths || {})) {
    for (const method of METHODS.filter((m) => item[m])) {
      const section = operation(spec, path, method, item[method], item.parameters);
      operations.append(section);
      const entry = link(`#${section.id}`, badge(method), ' ', el('code', '', path));
      toc.append(el('li', '', entry, ' ', prose(item[method].summary, 'span', 'toc-summary')));
    }
  }
  const schemas = Object.entries((spec.components && spec.components.schemas) || {});
  $('schemas').append(...schemas.map(([name, schema]) => schemaSection(name, schema)));
  $('schemas-block').hidden = schemas.length === 0;
}

async function main() {
  try {
    const response = await fetch('/openapi.json', { headers: { Accept: 'application/json' } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
    document.body.dataset.state = 'done';
  } catch (err) {
    const box = $('docs-error');
    box.textContent = `The API description could not be loaded (${err.message}). It is at /openapi.json.`;
    box.hidden = false;
    document.body.dataset.state = 'error';
  }
  $('api').setAttribute('aria-busy', 'false');
}

main();
