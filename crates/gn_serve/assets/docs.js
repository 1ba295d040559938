/*
 * gn_flux — interactive OpenAPI 3.0 documentation viewer.
 *
 * Plain ES2017, no dependencies, no network access besides the spec and the
 * requests the user sends. Every spec-derived string reaches the page through
 * textContent / setAttribute / .value, never innerHTML.
 *
 * Expected markup (the server-rendered fallback stays if anything fails):
 *   <main id="gn-docs" data-spec="/geonature/ogc/api"> fallback… </main>
 *   <script src="/geonature/assets/docs.js"></script>
 *
 * #gn-docs gets data-state="loading", then "ready" (content replaced) or
 * "error" (fallback kept, a .docs-error alert prepended).
 */
(function () {
  'use strict';

  const SPEC_ACCEPT = 'application/vnd.oai.openapi+json;version=3.0';
  const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
  const TRY_METHODS = ['get', 'post', 'put', 'patch', 'delete'];
  const BODY_LIMIT = 200 * 1024; // characters of response body shown
  const PRETTY_LIMIT = 5 * 1024 * 1024; // larger JSON bodies are not re-indented
  const REF_DEPTH = 8; // nested $ref expansions in a schema tree
  const NODE_BUDGET = 20000; // objects expanded per schema tree
  const ENUM_SHOWN = 30;
  const SHOWN_HEADERS = ['content-type', 'content-crs', 'link'];

  const root = document.getElementById('gn-docs');
  if (!root) return;

  let spec = null; // the loaded OpenAPI document
  let specHref = ''; // its absolute URL
  let chosenServer = 0; // index into spec.servers for "Try it"

  /* ------------------------------------------------------------------ utils */

  function own(o, k) {
    return o !== null && typeof o === 'object' && Object.prototype.hasOwnProperty.call(o, k);
  }

  function isObj(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  }

  /** el('tag', {class, text, value, onclick, attr…}, child…) — DOM only. */
  function el(tag, attrs) {
    const node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        const v = attrs[k];
        if (v === undefined || v === null || v === false) return;
        if (k === 'class') node.className = v;
        else if (k === 'text') node.textContent = String(v);
        else if (k === 'value') node.value = String(v);
        else if (k.slice(0, 2) === 'on' && typeof v === 'function') node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v === true ? '' : String(v));
      });
    }
    for (let i = 2; i < arguments.length; i++) add(node, arguments[i]);
    return node;
  }

  function add(node, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) {
      child.forEach(function (c) { add(node, c); });
    } else if (typeof child === 'string' || typeof child === 'number') {
      node.appendChild(document.createTextNode(String(child)));
    } else {
      node.appendChild(child);
    }
  }

  /** An absolute http(s) URL, or null (rejects javascript:, data:, …). */
  function safeHref(u, base) {
    try {
      const url = new URL(String(u), base || specHref || location.href);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function link(href, text) {
    const h = safeHref(href);
    return h ? el('a', { href: h }, text || h) : el('span', null, text || String(href));
  }

  function slug(s) {
    return String(s).toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '') || 'x';
  }

  function uniqueId(base, used) {
    let id = base;
    let i = 2;
    for (;;) {
      const other = document.getElementById(id);
      if (!used.has(id) && !(other && !root.contains(other))) break;
      id = base + '-' + i++;
    }
    used.add(id);
    return id;
  }

  function fmt(v) {
    if (typeof v === 'string') return v === '' ? '""' : v;
    return JSON.stringify(v);
  }

  function kib(n) {
    return n < 1024 ? n + ' B' : (n / 1024).toFixed(n < 10240 ? 1 : 0) + ' KB';
  }

  /** Tiny, safe subset of Markdown: paragraphs, `code`, **bold**, [text](url), bare URLs. */
  function richText(text, cls) {
    const wrap = el('div', { class: cls || 'docs-desc' });
    String(text).split(/\n\s*\n/).forEach(function (para) {
      if (!para.trim()) return;
      const p = el('p');
      inline(p, para.trim());
      wrap.appendChild(p);
    });
    return wrap;
  }

  function inline(parent, text) {
    const re = /`([^`\n]+)`|\*\*([^*\n]+)\*\*|\[([^\]\n]+)\]\(((?:[^()\s]|\([^()\s]*\))+)\)|(https?:\/\/[^\s<>"'`]*[^\s<>"'`.,;:!?)\]])/g;
    let last = 0;
    let m;
    while ((m = re.exec(text))) {
      if (m.index > last) add(parent, text.slice(last, m.index));
      if (m[1] !== undefined) add(parent, el('code', null, m[1]));
      else if (m[2] !== undefined) add(parent, el('strong', null, m[2]));
      else if (m[3] !== undefined) add(parent, link(m[4], m[3]));
      else add(parent, link(m[5], m[5]));
      last = re.lastIndex;
    }
    if (last < text.length) add(parent, text.slice(last));
  }

  /* ------------------------------------------------------------- $ref logic */

  function resolvePointer(ref) {
    if (typeof ref !== 'string' || ref.slice(0, 2) !== '#/') return undefined;
    let cur = spec;
    const parts = ref.slice(2).split('/');
    for (let i = 0; i < parts.length; i++) {
      let key = parts[i];
      try { key = decodeURIComponent(key); } catch (e) { /* keep raw */ }
      key = key.replace(/~1/g, '/').replace(/~0/g, '~');
      if (!own(cur, key)) return undefined;
      cur = cur[key];
    }
    return cur;
  }

  function refName(ref) {
    const last = String(ref).split('/').pop();
    return last.replace(/~1/g, '/').replace(/~0/g, '~');
  }

  /** Follow a chain of $refs (parameters, responses, request bodies, schemas). */
  function deref(obj) {
    let cur = obj;
    for (let hops = 0; hops < 16 && isObj(cur) && typeof cur.$ref === 'string'; hops++) {
      const next = resolvePointer(cur.$ref);
      if (next === undefined) return cur;
      cur = next;
    }
    return cur;
  }

  /** A copy of a schema with local $refs expanded; cycle- and depth-limited. */
  function expandSchema(schema) {
    const budget = { n: 0 };
    return expand(schema, [], budget);
  }

  function expand(node, stack, budget) {
    if (Array.isArray(node)) return node.map(function (n) { return expand(n, stack, budget); });
    if (!isObj(node)) return node;
    if (++budget.n > NODE_BUDGET) return '… (too large to expand)';
    if (typeof node.$ref === 'string') {
      const ref = node.$ref;
      if (stack.indexOf(ref) !== -1) return { $ref: ref, 'x-note': 'circular reference, not expanded' };
      if (stack.length >= REF_DEPTH) return { $ref: ref, 'x-note': 'depth limit reached' };
      const target = resolvePointer(ref);
      if (target === undefined) return { $ref: ref, 'x-note': 'unresolved reference' };
      const inner = expand(target, stack.concat([ref]), budget);
      if (!isObj(inner)) return inner;
      const out = { 'x-ref': refName(ref) };
      Object.keys(inner).forEach(function (k) { out[k] = inner[k]; });
      return out;
    }
    const out = {};
    Object.keys(node).forEach(function (k) { out[k] = expand(node[k], stack, budget); });
    return out;
  }

  /** Example JSON value built from a schema (for request-body skeletons). */
  function skeleton(schema, depth, stack) {
    if (depth > 6 || !isObj(schema)) return null;
    if (typeof schema.$ref === 'string') {
      if (stack.indexOf(schema.$ref) !== -1) return null;
      return skeleton(resolvePointer(schema.$ref), depth + 1, stack.concat([schema.$ref]));
    }
    if (own(schema, 'example')) return schema.example;
    if (own(schema, 'default')) return schema.default;
    if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
    if (Array.isArray(schema.allOf)) {
      const merged = {};
      schema.allOf.forEach(function (s) {
        const v = skeleton(s, depth + 1, stack);
        if (isObj(v)) Object.keys(v).forEach(function (k) { merged[k] = v[k]; });
      });
      return merged;
    }
    const alt = schema.oneOf || schema.anyOf;
    if (Array.isArray(alt) && alt.length) return skeleton(alt[0], depth + 1, stack);
    const type = Array.isArray(schema.type) ? schema.type[0] : schema.type || (schema.properties ? 'object' : null);
    switch (type) {
      case 'object': {
        const out = {};
        const props = isObj(schema.properties) ? schema.properties : {};
        Object.keys(props).forEach(function (k) { out[k] = skeleton(props[k], depth + 1, stack); });
        return out;
      }
      case 'array': {
        const item = skeleton(schema.items, depth + 1, stack);
        return item === null ? [] : [item];
      }
      case 'string':
        if (schema.format === 'date') return '2024-01-01';
        if (schema.format === 'date-time') return '2024-01-01T00:00:00Z';
        return '';
      case 'integer':
      case 'number':
        return typeof schema.minimum === 'number' ? schema.minimum : 0;
      case 'boolean':
        return false;
      default:
        return null;
    }
  }

  /* ----------------------------------------------------------- schema text */

  function typeLabel(s, depth) {
    depth = depth || 0;
    if (!isObj(s) || depth > 4) return '';
    if (typeof s.$ref === 'string') {
      const t = resolvePointer(s.$ref);
      const name = refName(s.$ref);
      if (isObj(t) && t.type && t.type !== 'object' && t.type !== 'array') return name + ': ' + typeLabel(t, depth + 1);
      return name;
    }
    let t = Array.isArray(s.type) ? s.type.join(' | ') : s.type || '';
    if (t === 'array') {
      t = 'array<' + (typeLabel(s.items, depth + 1) || 'any') + '>';
    } else if (!t) {
      const combo = ['oneOf', 'anyOf', 'allOf'].find(function (k) { return Array.isArray(s[k]); });
      if (combo) t = combo + '(' + s[combo].map(function (x) { return typeLabel(x, depth + 1) || '?'; }).join(', ') + ')';
      else if (s.properties) t = 'object';
    }
    if (s.format) t += (t ? ' ' : '') + '(' + s.format + ')';
    if (s.nullable) t += ' | null';
    return t || 'any';
  }

  function constraints(schema) {
    const s = deref(schema);
    const out = [];
    if (!isObj(s)) return out;
    const items = isObj(s.items) ? deref(s.items) : null;
    const en = Array.isArray(s.enum) ? s.enum : items && Array.isArray(items.enum) ? items.enum : null;
    if (en) {
      let txt = en.slice(0, ENUM_SHOWN).map(fmt).join(' | ');
      if (en.length > ENUM_SHOWN) txt += ' | … (+' + (en.length - ENUM_SHOWN) + ')';
      out.push(['enum', txt]);
    }
    if (own(s, 'default')) out.push(['default', fmt(s.default)]);
    if (own(s, 'minimum')) out.push([s.exclusiveMinimum === true ? 'minimum (exclusive)' : 'minimum', fmt(s.minimum)]);
    if (own(s, 'maximum')) out.push([s.exclusiveMaximum === true ? 'maximum (exclusive)' : 'maximum', fmt(s.maximum)]);
    ['minLength', 'maxLength', 'pattern', 'minItems', 'maxItems'].forEach(function (k) {
      if (own(s, k)) out.push([k, fmt(s[k])]);
    });
    return out;
  }

  function paramSchema(p) {
    if (isObj(p.schema)) return p.schema;
    if (isObj(p.content)) {
      const first = p.content[Object.keys(p.content)[0]];
      if (isObj(first) && isObj(first.schema)) return first.schema;
    }
    return {};
  }

  function paramExample(p, s) {
    if (own(p, 'example')) return p.example;
    if (isObj(p.examples)) {
      const first = deref(p.examples[Object.keys(p.examples)[0]]);
      if (own(first, 'value')) return first.value;
    }
    if (own(s, 'example')) return s.example;
    if (own(s, 'default')) return s.default;
    return undefined;
  }

  /* ------------------------------------------------------------- operations */

  function collectOps() {
    const ops = [];
    const paths = isObj(spec.paths) ? spec.paths : {};
    Object.keys(paths).forEach(function (path) {
      const item = deref(paths[path]);
      if (!isObj(item)) return;
      METHODS.forEach(function (method) {
        const op = item[method];
        if (!isObj(op)) return;
        const byKey = new Map();
        [item.parameters, op.parameters].forEach(function (list) {
          (Array.isArray(list) ? list : []).forEach(function (p) {
            const r = deref(p);
            if (isObj(r) && r.name && r.in) byKey.set(r.in + ':' + r.name, r);
          });
        });
        ops.push({ path: path, method: method, op: op, item: item, params: Array.from(byKey.values()) });
      });
    });
    return ops;
  }

  function groupOps(ops) {
    const groups = new Map();
    (Array.isArray(spec.tags) ? spec.tags : []).forEach(function (t) {
      if (isObj(t) && t.name && !groups.has(String(t.name))) {
        groups.set(String(t.name), { name: String(t.name), tag: t, ops: [] });
      }
    });
    ops.forEach(function (o) {
      const name = Array.isArray(o.op.tags) && o.op.tags.length ? String(o.op.tags[0]) : 'Other';
      if (!groups.has(name)) groups.set(name, { name: name, tag: null, ops: [] });
      groups.get(name).ops.push(o);
    });
    return Array.from(groups.values()).filter(function (g) { return g.ops.length > 0; });
  }

  function requiresAuth(op) {
    const sec = own(op, 'security') ? op.security : spec.security;
    return Array.isArray(sec) && sec.length > 0 && !sec.some(function (s) { return isObj(s) && Object.keys(s).length === 0; });
  }

  function statusClass(code) {
    const c = String(code).charAt(0);
    return c === '2' ? 'ok' : c === '3' ? 'running' : c === '4' ? 'warn' : c === '5' ? 'failed' : '';
  }

  function serversFor(o) {
    if (o && Array.isArray(o.op.servers) && o.op.servers.length) return o.op.servers;
    if (o && Array.isArray(o.item.servers) && o.item.servers.length) return o.item.servers;
    return Array.isArray(spec.servers) ? spec.servers : [];
  }

  function serverUrl(server) {
    if (!isObj(server) || typeof server.url !== 'string') return null;
    const vars = isObj(server.variables) ? server.variables : {};
    const raw = server.url.replace(/\{([^}]+)\}/g, function (m, name) {
      const v = vars[name];
      return isObj(v) && own(v, 'default') ? String(v.default) : m;
    });
    return safeHref(raw, specHref);
  }

  /** Base URL of "Try it" requests, without a trailing slash. */
  function baseUrl(o) {
    const list = serversFor(o);
    const pick = list === spec.servers ? list[chosenServer] || list[0] : list[0];
    const url = serverUrl(pick) || new URL(specHref).origin;
    return url.replace(/[?#].*$/, '').replace(/\/+$/, '');
  }

  /* --------------------------------------------------------------- render */

  function render() {
    const frag = document.createDocumentFragment();
    const used = new Set();
    const ops = collectOps();
    const groups = groupOps(ops);

    frag.appendChild(renderHeader());

    const entries = [];
    const groupNodes = [];
    const list = el('div', { class: 'docs-ops' });
    const toc = el('nav', { class: 'docs-toc', 'aria-label': 'Tags' });
    const tocList = el('ul');
    toc.appendChild(tocList);

    groups.forEach(function (g) {
      const gid = uniqueId('tag-' + slug(g.name), used);
      const section = el('section', { class: 'docs-tag', id: gid, 'data-tag': g.name },
        el('h2', null, g.name, ' ', el('span', { class: 'docs-count' }, String(g.ops.length))));
      if (g.tag && g.tag.description) section.appendChild(richText(g.tag.description));
      if (g.tag && isObj(g.tag.externalDocs) && g.tag.externalDocs.url) {
        section.appendChild(el('p', { class: 'docs-extdocs' }, link(g.tag.externalDocs.url, g.tag.externalDocs.description || g.tag.externalDocs.url)));
      }
      const gEntries = [];
      g.ops.forEach(function (o) {
        const node = renderOp(o, used);
        section.appendChild(node);
        const text = [o.method, o.path, o.op.summary || '', o.op.operationId || ''].join(' ').toLowerCase();
        const entry = { node: node, text: text };
        entries.push(entry);
        gEntries.push(entry);
      });
      groupNodes.push({ node: section, entries: gEntries });
      list.appendChild(section);
      tocList.appendChild(el('li', null, el('a', { href: '#' + gid }, g.name)));
    });

    frag.appendChild(renderToolbar(entries, groupNodes));
    if (groups.length > 1) frag.appendChild(toc);
    if (!ops.length) list.appendChild(el('p', { class: 'notice' }, 'This API declares no operations.'));
    frag.appendChild(list);
    return frag;
  }

  function renderHeader() {
    const info = isObj(spec.info) ? spec.info : {};
    const head = el('header', { class: 'docs-header' });
    head.appendChild(el('h1', { 'data-testid': 'docs-title' }, String(info.title || 'API documentation')));
    head.appendChild(el('p', { class: 'docs-versions' },
      info.version !== undefined ? el('span', { class: 'badge', 'data-testid': 'docs-version' }, 'version ' + info.version) : null, ' ',
      el('span', { class: 'badge' }, 'OpenAPI ' + spec.openapi), ' ',
      el('a', { href: specHref, class: 'docs-raw' }, 'OpenAPI document (JSON)')));
    if (info.description) head.appendChild(richText(info.description));

    const meta = el('dl', { class: 'meta' });
    if (isObj(info.contact) && (info.contact.name || info.contact.url || info.contact.email)) {
      const c = info.contact;
      meta.appendChild(el('dt', null, 'Contact'));
      meta.appendChild(el('dd', null, c.url ? link(c.url, c.name || c.url) : c.name || '',
        c.email ? [' ', el('span', null, '<' + c.email + '>')] : null));
    }
    if (isObj(info.license) && info.license.name) {
      meta.appendChild(el('dt', null, 'License'));
      meta.appendChild(el('dd', null, info.license.url ? link(info.license.url, info.license.name) : info.license.name));
    }
    if (isObj(spec.externalDocs) && spec.externalDocs.url) {
      meta.appendChild(el('dt', null, 'Documentation'));
      meta.appendChild(el('dd', null, link(spec.externalDocs.url, spec.externalDocs.description || spec.externalDocs.url)));
    }
    if (meta.childNodes.length) head.appendChild(meta);
    head.appendChild(renderServers());
    return head;
  }

  function renderServers() {
    const servers = Array.isArray(spec.servers) ? spec.servers.filter(isObj) : [];
    const box = el('section', { class: 'docs-servers' }, el('h2', null, 'Servers'));
    if (!servers.length) {
      box.appendChild(el('p', null, 'No server declared; requests are sent to ', el('code', null, new URL(specHref).origin), '.'));
      return box;
    }
    spec.servers = servers;
    const ul = el('ul');
    servers.forEach(function (s, i) {
      const resolved = serverUrl(s);
      const label = [el('code', { title: resolved || '' }, String(s.url)), s.description ? [' — ', String(s.description)] : null];
      if (servers.length > 1) {
        ul.appendChild(el('li', null, el('label', null,
          el('input', { type: 'radio', name: 'docs-server', value: String(i), checked: i === 0,
            onchange: function () { chosenServer = i; } }), ' ', label)));
      } else {
        ul.appendChild(el('li', null, label));
      }
    });
    box.appendChild(ul);
    if (servers.length > 1) box.appendChild(el('p', { class: 'docs-hint' }, '“Try it” requests go to the selected server.'));
    return box;
  }

  function renderToolbar(entries, groupNodes) {
    const total = entries.length;
    const count = el('span', { class: 'docs-count', 'aria-live': 'polite' }, total + ' operations');
    const empty = el('p', { class: 'notice docs-nomatch', hidden: true }, 'No operation matches the filter.');
    const input = el('input', {
      type: 'search', class: 'docs-filter', id: 'docs-filter', 'data-testid': 'docs-filter',
      placeholder: 'Filter by path or summary…', title: 'Keyboard shortcut: /', autocomplete: 'off', spellcheck: 'false',
    });
    input.addEventListener('input', function () {
      const terms = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      let shown = 0;
      entries.forEach(function (e) {
        const ok = terms.every(function (t) { return e.text.indexOf(t) !== -1; });
        e.node.hidden = !ok;
        if (ok) shown++;
      });
      groupNodes.forEach(function (g) {
        g.node.hidden = !g.entries.some(function (e) { return !e.node.hidden; });
      });
      count.textContent = shown === total ? total + ' operations' : shown + ' of ' + total + ' operations';
      empty.hidden = shown > 0;
    });
    document.addEventListener('keydown', function (ev) {
      const t = ev.target;
      const typing = t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
      if (ev.key === '/' && !typing && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
        ev.preventDefault();
        input.focus();
      }
    });
    function setAll(open) {
      entries.forEach(function (e) { if (!e.node.hidden) e.node.open = open; });
    }
    return el('div', { class: 'docs-toolbar' },
      el('label', { for: 'docs-filter', class: 'visually-hidden' }, 'Filter operations'),
      input, count,
      el('button', { type: 'button', class: 'secondary', onclick: function () { setAll(true); } }, 'Expand all'),
      el('button', { type: 'button', class: 'secondary', onclick: function () { setAll(false); } }, 'Collapse all'),
      empty);
  }

  function renderOp(o, used) {
    const m = o.method;
    const op = o.op;
    const id = uniqueId('op-' + slug(op.operationId || m + '-' + o.path), used);
    const details = el('details', {
      class: 'docs-op op-' + m + (op.deprecated ? ' deprecated' : ''), id: id,
      'data-testid': 'operation', 'data-method': m, 'data-path': o.path,
      'data-operation-id': op.operationId || null,
    });
    details.appendChild(el('summary', { class: 'docs-op-head' },
      el('span', { class: 'method ' + m }, m.toUpperCase()),
      el('code', { class: 'docs-path' }, o.path),
      op.summary ? el('span', { class: 'docs-op-summary' }, String(op.summary)) : null,
      op.deprecated ? el('span', { class: 'badge warn' }, 'deprecated') : null,
      requiresAuth(op) ? el('span', { class: 'badge private', title: 'Requires authentication' }, 'auth') : null));

    const body = el('div', { class: 'docs-op-body' });
    if (op.description) body.appendChild(richText(op.description));
    body.appendChild(el('p', { class: 'docs-opmeta' },
      op.operationId ? ['operationId ', el('code', null, String(op.operationId)), ' · '] : null,
      el('a', { href: '#' + id, class: 'docs-permalink' }, 'permalink')));

    body.appendChild(el('h3', null, 'Parameters'));
    body.appendChild(renderParams(o.params));
    const rb = deref(op.requestBody);
    if (isObj(rb)) body.appendChild(renderRequestBody(rb));
    body.appendChild(el('h3', null, 'Responses'));
    body.appendChild(renderResponses(op.responses));
    if (TRY_METHODS.indexOf(m) !== -1) body.appendChild(renderTry(o, id, rb));
    details.appendChild(body);
    return details;
  }

  function renderParams(params) {
    if (!params.length) return el('p', { class: 'docs-none' }, 'No parameters.');
    const tbody = el('tbody');
    params.forEach(function (p) {
      const s = paramSchema(p);
      const cons = constraints(s);
      const ex = own(p, 'example') ? p.example : undefined;
      tbody.appendChild(el('tr', null,
        el('td', null, el('code', { class: 'docs-pname' }, String(p.name)), p.deprecated ? [' ', el('span', { class: 'badge warn' }, 'deprecated')] : null),
        el('td', null, String(p.in)),
        el('td', null, p.required ? el('strong', { class: 'docs-required' }, 'required') : 'optional'),
        el('td', null, el('code', null, typeLabel(s)),
          cons.length ? el('ul', { class: 'docs-constraints' }, cons.map(function (c) {
            return el('li', null, el('span', { class: 'docs-k' }, c[0] + ': '), el('code', null, c[1]));
          })) : null),
        el('td', null, p.description ? richText(p.description) : null,
          ex !== undefined ? el('p', { class: 'docs-example' }, 'Example: ', el('code', null, fmt(ex))) : null)));
    });
    return el('div', { class: 'table-wrap' }, el('table', { class: 'data docs-params' },
      el('thead', null, el('tr', null, ['Name', 'In', 'Required', 'Type', 'Description'].map(function (h) {
        return el('th', { scope: 'col' }, h);
      }))), tbody));
  }

  function schemaDetails(label, schema) {
    const title = typeof schema.$ref === 'string' ? label + ' · ' + refName(schema.$ref) : label;
    const pre = el('pre', { class: 'docs-schema-tree', tabindex: '0' });
    const details = el('details', { class: 'docs-schema' }, el('summary', null, 'Schema ', el('code', null, title)), pre);
    let done = false;
    details.addEventListener('toggle', function () {
      if (details.open && !done) {
        done = true;
        pre.textContent = JSON.stringify(expandSchema(schema), null, 2);
      }
    });
    return details;
  }

  /** Schemas of a content map, one <details> per distinct schema. */
  function contentSchemas(prefix, content) {
    const groups = new Map();
    Object.keys(isObj(content) ? content : {}).forEach(function (t) {
      const mt = content[t];
      if (!isObj(mt) || !isObj(mt.schema)) return;
      const key = JSON.stringify(mt.schema);
      if (!groups.has(key)) groups.set(key, { schema: mt.schema, types: [] });
      groups.get(key).types.push(t);
    });
    const out = [];
    groups.forEach(function (g) { out.push(schemaDetails(prefix + g.types.join(', '), g.schema)); });
    return out;
  }

  function renderRequestBody(rb) {
    const types = isObj(rb.content) ? Object.keys(rb.content) : [];
    return el('div', { class: 'docs-reqbody' },
      el('h3', null, 'Request body ', rb.required ? el('strong', { class: 'docs-required' }, 'required') : null),
      rb.description ? richText(rb.description) : null,
      types.length ? el('p', null, 'Content types: ', types.map(function (t) { return el('code', { class: 'docs-ctype' }, t); })) : null,
      contentSchemas('', rb.content));
  }

  function renderResponses(responses) {
    const codes = isObj(responses) ? Object.keys(responses) : [];
    if (!codes.length) return el('p', { class: 'docs-none' }, 'No responses documented.');
    const tbody = el('tbody');
    const schemas = el('div', { class: 'docs-schemas' });
    codes.forEach(function (code) {
      const r = deref(responses[code]);
      if (!isObj(r)) return;
      const types = isObj(r.content) ? Object.keys(r.content) : [];
      tbody.appendChild(el('tr', null,
        el('td', null, el('span', { class: ('badge ' + statusClass(code)).trim() }, code)),
        el('td', null, r.description ? richText(r.description) : null),
        el('td', null, types.length ? types.map(function (t) { return el('code', { class: 'docs-ctype' }, t); }) : '—')));
      add(schemas, contentSchemas(code + ' · ', r.content));
    });
    return el('div', { class: 'docs-responses' },
      el('div', { class: 'table-wrap' }, el('table', { class: 'data docs-resp-table' },
        el('thead', null, el('tr', null, ['Status', 'Description', 'Content types'].map(function (h) {
          return el('th', { scope: 'col' }, h);
        }))), tbody)),
      schemas);
  }

  /* ---------------------------------------------------------------- try it */

  function acceptTypes(op) {
    const res = isObj(op.responses) ? op.responses : {};
    const key = own(res, '200') ? '200'
      : Object.keys(res).find(function (k) { return /^2/.test(k); }) || (own(res, 'default') ? 'default' : null);
    const r = key ? deref(res[key]) : null;
    return isObj(r) && isObj(r.content) ? Object.keys(r.content) : [];
  }

  function paramControl(p, id) {
    const s = deref(paramSchema(p)) || {};
    const initial = paramExample(p, s);
    const common = { id: id, name: p.name, 'data-param': p.name, 'data-in': p.in, required: !!p.required };
    if (Array.isArray(s.enum) || s.type === 'boolean') {
      const values = Array.isArray(s.enum) ? s.enum : [true, false];
      const sel = el('select', common);
      if (!p.required || initial === undefined) sel.appendChild(el('option', { value: '' }, p.required ? '— choose —' : '(not set)'));
      values.forEach(function (v) { sel.appendChild(el('option', { value: String(v) }, String(v))); });
      if (initial !== undefined) sel.value = String(initial);
      return sel;
    }
    const numeric = s.type === 'integer' || s.type === 'number';
    const input = el('input', Object.assign({
      type: 'text', inputmode: numeric ? 'decimal' : null, autocomplete: 'off', spellcheck: 'false',
      placeholder: s.type === 'array' ? 'comma-separated ' + (typeLabel(s.items) || 'values') : typeLabel(s),
    }, common));
    if (initial !== undefined && initial !== null) {
      input.value = Array.isArray(initial) ? initial.join(',') : typeof initial === 'object' ? JSON.stringify(initial) : String(initial);
    }
    return input;
  }

  function bodyExample(content, type) {
    const mt = isObj(content) ? content[type] : null;
    if (!isObj(mt)) return '';
    let v;
    if (own(mt, 'example')) v = mt.example;
    else if (isObj(mt.examples) && Object.keys(mt.examples).length) {
      const ex = deref(mt.examples[Object.keys(mt.examples)[0]]);
      v = own(ex, 'value') ? ex.value : undefined;
    }
    if (v === undefined) v = skeleton(mt.schema, 0, []);
    if (v === undefined || v === null) return '';
    return typeof v === 'string' && !/json/i.test(type) ? v : JSON.stringify(v, null, 2);
  }

  function renderTry(o, opId, rb) {
    const m = o.method;
    const controls = [];
    const fields = el('div', { class: 'docs-fields' });
    o.params.forEach(function (p, i) {
      if (p.in !== 'path' && p.in !== 'query' && p.in !== 'header') return;
      if (p.in === 'header' && /^(accept|content-type|authorization)$/i.test(p.name)) return;
      const fid = opId + '-p' + i;
      const control = paramControl(p, fid);
      controls.push({ p: p, control: control });
      fields.appendChild(el('div', { class: 'docs-field' },
        el('label', { for: fid }, el('code', null, String(p.name)), ' ',
          el('span', { class: 'docs-in' }, p.in + (p.required ? ', required' : ''))),
        control));
    });
    const acceptId = opId + '-accept';
    const accept = el('select', { id: acceptId, class: 'docs-accept', 'data-testid': 'try-accept' });
    acceptTypes(o.op).concat(['*/*']).forEach(function (t) { accept.appendChild(el('option', { value: t }, t)); });
    fields.appendChild(el('div', { class: 'docs-field' }, el('label', { for: acceptId }, 'Accept'), accept));
    const extraId = opId + '-extra';
    const extra = el('input', { type: 'text', id: extraId, class: 'docs-extra', 'data-testid': 'try-extra', placeholder: 'key=value&other=value', autocomplete: 'off', spellcheck: 'false' });
    fields.appendChild(el('div', { class: 'docs-field docs-field-wide' },
      el('label', { for: extraId }, 'Extra query string'), extra));


    let bodyArea = null;
    let bodyType = null;
    if (isObj(rb) && m !== 'get' && m !== 'delete') {
      const types = isObj(rb.content) ? Object.keys(rb.content) : [];
      bodyType = types.find(function (t) { return /json/i.test(t); }) || 'application/json';
      const areaId = opId + '-body';
      bodyArea = el('textarea', { id: areaId, class: 'docs-body-input', 'data-testid': 'try-body', rows: '8', spellcheck: 'false' });
      bodyArea.value = bodyExample(rb.content, bodyType) || '{}';
      fields.appendChild(el('div', { class: 'docs-field docs-field-wide' },
        el('label', { for: areaId }, 'Request body ', el('span', { class: 'docs-in' }, bodyType)), bodyArea));
    }

    const result = el('div', { class: 'docs-result', 'data-testid': 'try-result', 'aria-live': 'polite', hidden: true });
    const sendBtn = el('button', { type: 'submit', 'data-testid': 'try-send' }, 'Send');
    const clearBtn = el('button', { type: 'button', class: 'secondary', hidden: true }, 'Clear result');
    const state = { controller: null, objectUrl: null };
    clearBtn.addEventListener('click', function () {
      result.textContent = '';
      result.hidden = true;
      clearBtn.hidden = true;
    });
    const form = el('form', { class: 'docs-try', 'data-testid': 'try-form', novalidate: false },
      el('h3', null, 'Try it'), fields,
      el('div', { class: 'docs-actions' }, sendBtn, ' ', clearBtn), result);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      clearBtn.hidden = false;
      send(o, controls, extra, accept, bodyArea, bodyType, result, sendBtn, state);
    });
    return form;
  }

  function encodeQuery(v) {
    return encodeURIComponent(v).replace(/%2C/gi, ',').replace(/%3A/gi, ':').replace(/%2F/gi, '/');
  }

  function buildRequest(o, controls, extra) {
    let path = o.path;
    const query = [];
    const headers = {};
    const missing = [];
    controls.forEach(function (c) {
      const p = c.p;
      const raw = String(c.control.value).trim();
      if (raw === '') {
        if (p.required) missing.push(p.name);
        return;
      }
      if (p.in === 'path') {
        path = path.split('{' + p.name + '}').join(encodeURIComponent(raw));
      } else if (p.in === 'query') {
        const s = deref(paramSchema(p)) || {};
        const explode = own(p, 'explode') ? !!p.explode : !p.style || p.style === 'form';
        if (s.type === 'array' && explode) {
          raw.split(',').map(function (x) { return x.trim(); }).filter(Boolean).forEach(function (v) {
            query.push(encodeURIComponent(p.name) + '=' + encodeQuery(v));
          });
        } else {
          query.push(encodeURIComponent(p.name) + '=' + encodeQuery(raw));
        }
      } else {
        headers[p.name] = raw;
      }
    });
    const ex = String(extra.value).trim().replace(/^[?&]+/, '');
    if (ex) query.push(ex);
    const url = baseUrl(o) + path + (query.length ? '?' + query.join('&') : '');
    return { url: url, headers: headers, missing: missing };
  }

  function isTextual(ct) {
    return !ct || /^text\/|json|xml|javascript|csv|yaml|x-www-form-urlencoded/i.test(ct);
  }

  function resultRow(dl, label, value) {
    dl.appendChild(el('dt', null, label));
    dl.appendChild(el('dd', null, value));
  }

  async function send(o, controls, extra, accept, bodyArea, bodyType, result, button, state) {
    result.hidden = false;
    result.textContent = '';
    const req = buildRequest(o, controls, extra);
    if (req.missing.length) {
      result.appendChild(el('p', { class: 'notice error', 'data-testid': 'try-status' }, 'Missing required parameter(s): ' + req.missing.join(', ')));
      return;
    }
    let href = safeHref(req.url, location.href);
    if (!href) {
      result.appendChild(el('p', { class: 'notice error', 'data-testid': 'try-status' }, 'Invalid request URL: ' + req.url));
      return;
    }
    const method = o.method.toUpperCase();
    const headers = Object.assign({}, req.headers, { Accept: accept.value });
    const init = { method: method, headers: headers, credentials: 'same-origin', redirect: 'follow' };
    if (bodyArea && bodyArea.value.trim()) {
      if (/json/i.test(bodyType)) {
        try {
          JSON.parse(bodyArea.value);
        } catch (e) {
          result.appendChild(el('p', { class: 'notice error', 'data-testid': 'try-status' }, 'The request body is not valid JSON: ' + e.message));
          return;
        }
      }
      init.body = bodyArea.value;
      headers['Content-Type'] = bodyType;
    }
    if (state.controller) state.controller.abort();
    if (state.objectUrl) {
      URL.revokeObjectURL(state.objectUrl);
      state.objectUrl = null;
    }
    if (typeof AbortController === 'function') {
      state.controller = new AbortController();
      init.signal = state.controller.signal;
    }
    const mySignal = init.signal;

    const dl = el('dl', { class: 'meta docs-result-meta' });
    resultRow(dl, 'Request', [el('code', { class: 'method-text' }, method), ' ', el('a', { href: href, class: 'docs-request-url', 'data-testid': 'try-url' }, href)]);
    const statusEl = el('span', { class: 'badge running', 'data-testid': 'try-status' }, 'sending…');
    resultRow(dl, 'Status', statusEl);
    result.appendChild(dl);
    button.disabled = true;
    const t0 = performance.now();
    let res;
    try {
      res = await fetch(href, init);
    } catch (err) {
      if (mySignal && mySignal.aborted) return;
      button.disabled = false;
      statusEl.className = 'badge failed';
      statusEl.textContent = 'network error';
      resultRow(dl, 'Time', Math.round(performance.now() - t0) + ' ms');
      result.appendChild(el('p', { class: 'notice error' }, String(err && err.message ? err.message : err) +
        ' — the server may be unreachable, or the request was blocked (CORS, mixed content).'));
      return;
    }
    let text = null;
    let blob = null;
    const ct = res.headers.get('content-type') || '';
    try {
      if (isTextual(ct)) text = await res.text();
      else blob = await res.blob();
    } catch (err) {
      if (mySignal && mySignal.aborted) return;
      text = '';
      result.appendChild(el('p', { class: 'notice error' }, 'Error while reading the body: ' + (err && err.message ? err.message : err)));
    }
    if (mySignal && mySignal.aborted) return;
    button.disabled = false;
    const elapsed = Math.round(performance.now() - t0);

    statusEl.className = 'badge ' + (res.ok ? 'ok' : res.status >= 500 ? 'failed' : 'warn');
    statusEl.textContent = res.status + (res.statusText ? ' ' + res.statusText : '');
    if (res.redirected && res.url) resultRow(dl, 'Final URL', link(res.url, res.url));
    resultRow(dl, 'Time', el('span', { 'data-testid': 'try-elapsed' }, elapsed + ' ms'));
    SHOWN_HEADERS.forEach(function (h) {
      const v = res.headers.get(h);
      resultRow(dl, h, v === null ? el('span', { class: 'docs-muted' }, '—') : el('code', null, v));
    });
    const all = el('dl', { class: 'meta' });
    res.headers.forEach(function (v, k) { resultRow(all, k, el('code', null, v)); });
    result.appendChild(el('details', { class: 'docs-allheaders' }, el('summary', null, 'All response headers'), all));

    if (blob) {
      state.objectUrl = URL.createObjectURL(blob);
      const cd = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(res.headers.get('content-disposition') || '');
      let name = cd ? cd[1] : new URL(href).pathname.split('/').filter(Boolean).pop() || 'response';
      try { name = decodeURIComponent(name); } catch (e) { /* keep raw */ }
      result.appendChild(el('p', { class: 'notice' }, 'Binary response (' + kib(blob.size) + ', ' + (ct || 'unknown type') + '). ',
        el('a', { href: state.objectUrl, download: name, class: 'button' }, 'Download')));
      return;
    }
    let shown = text;
    if (/json/i.test(ct) && text.length <= PRETTY_LIMIT) {
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* show raw */ }
    }
    if (shown.length > BODY_LIMIT) {
      result.appendChild(el('p', { class: 'notice', 'data-testid': 'try-truncated' },
        'Body truncated: showing the first ' + kib(BODY_LIMIT) + ' of ' + kib(shown.length) + '. ',
        method === 'GET' ? el('a', { href: href }, 'Open the full response') : null));
      shown = shown.slice(0, BODY_LIMIT) + '\n…';
    }
    result.appendChild(shown === ''
      ? el('p', { class: 'docs-muted' }, '(empty body)')
      : el('pre', { class: 'docs-body', 'data-testid': 'try-body-output', tabindex: '0' }, shown));
  }

  /* ------------------------------------------------------------------ boot */

  function showError(message) {
    root.setAttribute('data-state', 'error');
    root.removeAttribute('aria-busy');
    root.insertBefore(el('div', { class: 'docs-error notice error', role: 'alert', 'data-testid': 'docs-error' },
      el('strong', null, 'Interactive documentation unavailable: '), message,
      ' The basic documentation below still works.'), root.firstChild);
  }

  function openFromHash() {
    let id = '';
    try { id = decodeURIComponent(location.hash.slice(1)); } catch (e) { return; }
    const target = id && document.getElementById(id);
    if (target && root.contains(target) && target.tagName === 'DETAILS') {
      target.open = true;
      target.scrollIntoView();
    }
  }

  async function main() {
    const attr = root.getAttribute('data-spec');
    if (!attr) {
      showError('#gn-docs has no data-spec attribute.');
      return;
    }
    try {
      specHref = new URL(attr, location.href).href;
    } catch (e) {
      showError('invalid spec URL ' + attr + '.');
      return;
    }
    root.setAttribute('data-state', 'loading');
    root.setAttribute('aria-busy', 'true');
    let data;
    try {
      let res;
      try {
        res = await fetch(specHref, { headers: { Accept: SPEC_ACCEPT }, credentials: 'same-origin' });
      } catch (e) {
        throw new Error('could not fetch ' + specHref + ' (' + e.message + ').');
      }
      if (!res.ok) throw new Error('HTTP ' + res.status + (res.statusText ? ' ' + res.statusText : '') + ' fetching ' + specHref + '.');
      const text = await res.text();
      try {
        data = JSON.parse(text);
      } catch (e) {
        throw new Error(specHref + ' is not valid JSON (' + e.message + ').');
      }
      if (!isObj(data) || typeof data.openapi !== 'string' || !/^3\./.test(data.openapi)) {
        throw new Error(specHref + ' is not an OpenAPI 3 document.');
      }
    } catch (err) {
      showError(err && err.message ? err.message : String(err));
      return;
    }
    spec = data;
    let frag;
    try {
      frag = render();
    } catch (err) {
      if (window.console) console.error(err);
      showError('the OpenAPI document could not be rendered (' + (err && err.message) + ').');
      return;
    }
    root.textContent = '';
    root.appendChild(frag);
    root.classList.add('docs-ready');
    root.setAttribute('data-state', 'ready');
    root.removeAttribute('aria-busy');
    openFromHash();
    window.addEventListener('hashchange', openFromHash);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main);
  else main();
})();
