// dpweb's page: the services table, live from /events, and a service's
// detail view (#/service/NAME) with its timeline, log and actions.
//
// Rules this file keeps:
// * every text that came from the server goes into the DOM as text
//   (textContent, createTextNode, setAttribute of a plain attribute):
//   service names, STATUS= texts, tags and log lines are data, never markup;
// * the table holds a keyed <tr> per service in view only (rows are one
//   fixed height; two spacer rows stand for the others), so the first render
//   of 10,000 services costs what 50 rows cost, and a `changes` batch
//   updates only the cells of the rows it names;
// * the server's clock is taken from the rows themselves (ts + uptime is
//   its monotonic "now"), so uptimes tick and the crash-loop window moves
//   without trusting the browser's clock to agree with the server's.
'use strict';

(function () {
  const TOKEN_KEY = 'dpweb.token';
  const LOOP_EXITS = 3;         // crash-looping: this many exits...
  const LOOP_WINDOW = 300;      // ...within this many seconds
  const OVERSCAN = 12;          // rows rendered beyond the visible ones
  const COLS = ['name', 'state', 'pid', 'time', 'ready', 'restarts', 'last', 'want', 'status'];

  const $ = (id) => document.getElementById(id);
  const svcs = new Map();       // name -> view (see prep)
  const rendered = new Map();   // name -> <tr> in the table now
  let order = [];               // names shown (filtered, sorted)
  let orderDirty = true;
  let sortKey = null;           // set by sortBy('name') at start
  let sortDir = 1;
  let filter = '';
  let rowH = 0;                 // measured height of a row
  let frame = 0;                // a pending requestAnimationFrame
  let mono = null;              // {s: server monotonic seconds, at: performance.now()}
  let daemon = {};
  let detailName = null;
  let range = 3600;
  let history = null;           // the detail service's history, as fetched
  let historyAt = 0;

  // What tests and the bench read: counters of what the page applied.
  const stats = window.dpweb = {
    snapshots: 0, batches: 0, updates: 0, seq: 0, applyMs: 0, applyMaxMs: 0,
    renders: 0, rowsInDom: 0, snapshotAt: 0, firstRender: 0, interactive: 0, errors: 0,
  };

  // --- time --------------------------------------------------------------------

  // The server's monotonic clock (daemonproxy's, which its ts fields
  // count): sent with each message; else worked out from a row that is up
  // or down (a page of services all pending a start has none such).
  function setMono(msg) {
    if (typeof msg.mono === 'number') {
      mono = { s: msg.mono, at: performance.now() };
      return;
    }
    for (const r of msg.services) {
      if (r.ts === null || r.ts === undefined) continue;
      const d = r.state === 'up' ? r.uptime : r.state === 'down' ? r.downtime : null;
      if (typeof d === 'number') {
        mono = { s: r.ts + d, at: performance.now() };
        return;
      }
    }
  }

  function monoNow() {
    return mono ? mono.s + (performance.now() - mono.at) / 1000 : null;
  }

  function duration(s) {
    if (s === null || s === undefined || !isFinite(s)) return '-';
    s = Math.max(0, Math.floor(s));
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm' + pad2(s % 60) + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h' + pad2(Math.floor(s / 60) % 60) + 'm';
    return Math.floor(s / 86400) + 'd' + pad2(Math.floor(s / 3600) % 24) + 'h';
  }

  function pad2(n) { return n < 10 ? '0' + n : '' + n; }

  // --- one service's view --------------------------------------------------------

  // dpctl's shown state: a down service wanted down is "stopped", wanted
  // failed (its controller gave up) "failed".
  function shownState(r) {
    if (r.state !== 'down') return r.state;
    const w = r.want && r.want.want;
    return w === 'down' ? 'stopped' : w === 'failed' ? 'failed' : 'down';
  }

  function lastExit(r) {
    return r.reason ? r.reason + ' ' + (r.value === null ? '' : r.value) : '-';
  }

  function cleanExit(r) {
    return r.reason === 'exit' && r.value === '0';
  }

  // failed: given up on by its controller, or down (not asked to be) after
  // an exit other than 0
  function isFailed(v) {
    return v.shown === 'failed' || (v.shown === 'down' && !!v.r.reason && !cleanExit(v.r));
  }

  // crash-looping: LOOP_EXITS exits within the last LOOP_WINDOW seconds
  // (daemonproxy keeps the last 5; their ts is its monotonic second)
  function isLooping(r, now) {
    const last = r.exits && r.exits.last;
    if (!last || last.length < LOOP_EXITS || now === null) return false;
    let n = 0;
    for (const e of last) if (e.ts >= now - LOOP_WINDOW) n++;
    return n >= LOOP_EXITS;
  }

  function prep(r, now) {
    const v = { r: r, shown: shownState(r), ver: 0, looping: false, failed: false, hay: '' };
    v.failed = isFailed(v);
    v.looping = isLooping(r, now);
    v.hay = haystack(v);
    return v;
  }

  function haystack(v) {
    return (v.r.name + '\n' + v.shown + '\n' + (v.r.status || '') + '\n' + lastExit(v.r) +
            (v.failed ? '\nfailed' : '') + (v.looping ? '\ncrash-looping' : '')).toLowerCase();
  }

  function timeText(v, now) {
    const r = v.r;
    if (r.ts === null || now === null) return '-';
    if (r.state === 'start') return 'in ' + duration(r.ts - now);
    return duration(now - r.ts);
  }

  function readyText(r) {
    return r.ready === null || r.ready === undefined ? '-' : r.ready ? 'yes' : 'no';
  }

  function wantText(r) {
    return r.want ? r.want.want + (r.want.by ? ' (' + r.want.by + ')' : '') : '-';
  }

  function sortValue(v, key) {
    const r = v.r;
    switch (key) {
      case 'name': return r.name;
      case 'state': return v.shown;
      case 'pid': return r.pid === null ? -1 : r.pid;
      case 'time': return r.ts === null ? Infinity : r.state === 'start' ? -r.ts : r.ts;
      case 'ready': return readyText(r);
      case 'restarts': return r.restarts || 0;
      case 'last': return lastExit(r);
      case 'want': return wantText(r);
      case 'status': return r.status || '';
    }
    return '';
  }

  function matches(v) {
    return !filter || v.hay.indexOf(filter) >= 0;
  }

  // --- the table ---------------------------------------------------------------

  const tbody = $('rows');
  const scroller = $('scroller');
  const topPad = spacer();
  const bottomPad = spacer();
  tbody.appendChild(topPad);
  tbody.appendChild(bottomPad);

  function spacer() {
    const tr = document.createElement('tr');
    tr.className = 'spacer';
    tr.setAttribute('aria-hidden', 'true');
    const td = document.createElement('td');
    td.colSpan = COLS.length;
    tr.appendChild(td);
    return tr;
  }

  function setPad(tr, px) {
    tr.style.display = px > 0 ? '' : 'none';
    tr.firstChild.style.height = px + 'px';
  }

  function makeRow(name) {
    const tr = document.createElement('tr');
    tr.dataset.name = name;         // a data attribute: text, never parsed
    for (const c of COLS) {
      const td = document.createElement('td');
      td.className = 'c-' + c;
      if (c === 'name') {
        const a = document.createElement('a');
        a.href = '#/service/' + encodeURIComponent(name);
        a.appendChild(document.createTextNode(name));
        td.appendChild(a);
        td.title = name;
      } else {
        td.appendChild(document.createTextNode(''));
      }
      if (c === 'pid' || c === 'time' || c === 'restarts') td.classList.add('num');
      tr.appendChild(td);
    }
    tr._ver = -1;
    return tr;
  }

  function setText(td, text) {
    const node = td.firstChild;
    if (node.nodeValue !== text) node.nodeValue = text;
  }

  // fill the cells of a row from its view (only what differs is touched)
  function fillRow(tr, v, now) {
    const r = v.r;
    const td = tr.children;
    setText(td[1], v.shown);
    td[1].className = 'c-state st-' + v.shown;
    setText(td[2], r.pid === null ? '-' : String(r.pid));
    setText(td[3], timeText(v, now));
    setText(td[4], readyText(r));
    setText(td[5], String(r.restarts || 0));
    setText(td[6], lastExit(r));
    setText(td[7], wantText(r));
    setText(td[8], r.status === null ? '' : r.status);
    td[8].title = r.status === null ? '' : r.status;
    const cls = (v.failed ? 'failed ' : '') + (v.looping ? 'looping' : '');
    if (tr.className !== cls.trim()) tr.className = cls.trim();
    tr.title = v.looping ? 'crash-looping: ' + LOOP_EXITS + ' or more exits in the last ' +
      (LOOP_WINDOW / 60) + ' minutes' : '';
    tr._ver = v.ver;
  }

  function rebuildOrder() {
    const out = [];
    for (const [name, v] of svcs) if (matches(v)) out.push(name);
    const key = sortKey, dir = sortDir;
    if (key === 'name') {
      out.sort((a, b) => (a < b ? -dir : a > b ? dir : 0));
    } else {
      out.sort((a, b) => {
        const x = sortValue(svcs.get(a), key), y = sortValue(svcs.get(b), key);
        if (x < y) return -dir;
        if (x > y) return dir;
        return a < b ? -1 : a > b ? 1 : 0;
      });
    }
    order = out;
    orderDirty = false;
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; render(); });
  }

  // render the rows in view: reuse each service's <tr>, make the missing
  // ones, drop those scrolled out; a row is refilled only if it changed
  function render() {
    if (orderDirty) rebuildOrder();
    const now = monoNow();
    const h = rowH || 29;
    const head = tbody.offsetTop;
    const top = Math.max(0, scroller.scrollTop - head);
    const view = scroller.clientHeight || window.innerHeight;
    const first = Math.max(0, Math.floor(top / h) - OVERSCAN);
    const last = Math.min(order.length, Math.ceil((top + view) / h) + OVERSCAN);
    const keep = new Map();
    let cursor = topPad.nextSibling;
    for (let i = first; i < last; i++) {
      const name = order[i];
      const v = svcs.get(name);
      let tr = rendered.get(name);
      if (!tr) tr = makeRow(name);
      if (tr._ver !== v.ver) fillRow(tr, v, now);
      keep.set(name, tr);
      if (cursor === tr) {
        cursor = cursor.nextSibling;
      } else {
        tbody.insertBefore(tr, cursor);
      }
    }
    while (cursor !== bottomPad) {
      const next = cursor.nextSibling;
      tbody.removeChild(cursor);
      cursor = next;
    }
    for (const [name, tr] of rendered) {
      if (!keep.has(name) && tr.parentNode) tbody.removeChild(tr);
    }
    rendered.clear();
    for (const [k, tr] of keep) rendered.set(k, tr);
    setPad(topPad, first * h);
    setPad(bottomPad, (order.length - last) * h);
    if (!rowH && keep.size) {
      const measured = keep.values().next().value.getBoundingClientRect().height;
      if (measured > 0 && Math.abs(measured - h) > 0.5) {
        rowH = measured;
        schedule();
      } else {
        rowH = h;
      }
    }
    stats.renders++;
    stats.rowsInDom = keep.size;
    $('shown').textContent = order.length === svcs.size ? '' :
      order.length + ' of ' + svcs.size + ' shown';
    summary();
  }

  function summary() {
    const n = { up: 0, start: 0, down: 0, stopped: 0, failed: 0, looping: 0 };
    for (const v of svcs.values()) {
      if (v.shown in n) n[v.shown]++;
      if (v.failed && v.shown !== 'failed') n.failed++;
      if (v.looping) n.looping++;
    }
    const parts = [n.up + ' up'];
    if (n.start) parts.push(n.start + ' starting');
    if (n.down) parts.push(n.down + ' down');
    if (n.stopped) parts.push(n.stopped + ' stopped');
    parts.push(n.failed + ' failed');
    if (n.looping) parts.push(n.looping + ' crash-looping');
    $('summary').textContent = svcs.size + (svcs.size === 1 ? ' service: ' : ' services: ') +
      parts.join(', ');
  }

  // --- the event stream ----------------------------------------------------------

  function onSnapshot(msg) {
    const t0 = performance.now();
    if (!stats.firstRender) stats.snapshotAt = t0;
    setMono(msg);
    const now = monoNow();
    svcs.clear();
    for (const r of msg.services) {
      const v = prep(r, now);
      v.ver = 1;
      svcs.set(r.name, v);
    }
    for (const tr of rendered.values()) tr._ver = -1;
    daemon = msg.daemon || {};
    stats.seq = msg.seq;
    stats.snapshots++;
    orderDirty = true;
    render();
    connState();
    if (detailName !== null) detailChanged(true);
    const dt = performance.now() - t0;
    stats.applyMs += dt;
    if (!stats.firstRender) {
      void tbody.offsetHeight;            // the layout, too
      stats.firstRender = performance.now();
      requestAnimationFrame(() => setTimeout(() => { stats.interactive = performance.now(); }));
    }
  }

  function onChanges(msg) {
    const t0 = performance.now();
    setMono(msg);
    const now = monoNow();
    for (const r of msg.services) {
      const old = svcs.get(r.name);
      const v = prep(r, now);
      v.ver = old ? old.ver + 1 : 1;
      svcs.set(r.name, v);
      if (!old || matches(old) !== matches(v) ||
          (sortKey !== 'name' && sortValue(old, sortKey) !== sortValue(v, sortKey))) {
        orderDirty = true;
      }
      const tr = rendered.get(r.name);
      if (tr) fillRow(tr, v, now);
      if (r.name === detailName) detailChanged(false);
    }
    for (const name of msg.deleted || []) {
      if (svcs.delete(name)) orderDirty = true;
      if (name === detailName) detailChanged(false);
    }
    daemon = msg.daemon || daemon;
    stats.seq = msg.seq;
    stats.batches++;
    stats.updates += msg.services.length;
    if (orderDirty) schedule(); else summary();
    connState();
    const dt = performance.now() - t0;
    stats.applyMs += dt;
    if (dt > stats.applyMaxMs) stats.applyMaxMs = dt;
  }

  function guarded(fn) {
    return (e) => {
      try {
        fn(JSON.parse(e.data));
      } catch (err) {
        stats.errors++;
        console.error('dpweb: a message not applied:', err);
      }
    };
  }

  // The stream is read with fetch, not EventSource: EventSource cannot
  // send the token, which a reader needs on any address but loopback and,
  // on loopback, whenever the browser's user is not dpweb's own or root.
  // The same SSE format; a reconnect gets a new snapshot.
  let live = false;
  let needToken = false;
  let retry = 500;
  let streamGen = 0;
  let abort = null;
  const handlers = { snapshot: guarded(onSnapshot), changes: guarded(onChanges) };

  function connect() {
    const gen = ++streamGen;
    if (abort) abort.abort();
    abort = new AbortController();
    fetch('/events', { headers: authHeaders(), cache: 'no-store', signal: abort.signal })
      .then((res) => {
        if (gen !== streamGen) return null;
        if (res.status === 401 || res.status === 403) {
          needToken = true;
          return null;
        }
        if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
        needToken = false;
        live = true;
        retry = 500;
        connState();
        return readStream(res.body.getReader(), gen);
      })
      .catch(() => {})
      .then(() => {
        if (gen !== streamGen) return;
        live = false;
        connState();
        if (!needToken) {                 // a token, when given, connects again
          setTimeout(() => { if (gen === streamGen) connect(); }, retry);
          retry = Math.min(retry * 2, 5000);
        }
      });
  }

  // SSE: messages end with a blank line; "event:" and "data:" lines
  async function readStream(reader, gen) {
    const dec = new TextDecoder();
    let buf = '';
    let from = 0;                         // where a message end may start
    for (;;) {
      const { value, done } = await reader.read();
      if (done || gen !== streamGen) return;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n', from)) >= 0) {
        message(buf.slice(0, i));
        buf = buf.slice(i + 2);
        from = 0;
      }
      from = Math.max(0, buf.length - 1);
    }
  }

  function message(block) {
    let event = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
    }
    const fn = handlers[event];
    if (fn && data.length) fn({ data: data.join('\n') });
  }

  function connState() {
    const el = $('conn');
    let text = 'live', ok = true;
    if (needToken) { text = 'a token is needed to read'; ok = false; }
    else if (!live) { text = 'reconnecting to dpweb…'; ok = false; }
    else if (daemon.connected === false) { text = 'dpweb has lost daemonproxy'; ok = false; }
    el.textContent = text;
    el.className = 'conn ' + (ok ? 'ok' : 'bad');
    if (needToken && !svcs.size) {
      $('summary').textContent = 'dpweb answers only with its token here: enter it (right).';
    }
  }

  // --- ticking -------------------------------------------------------------------

  function tick() {
    const now = monoNow();
    let again = false;
    for (const [name, tr] of rendered) {
      const v = svcs.get(name);
      if (!v) continue;
      setText(tr.children[3], timeText(v, now));
      const loop = isLooping(v.r, now);
      if (loop !== v.looping) {
        v.looping = loop; v.hay = haystack(v); v.ver++;
        fillRow(tr, v, now);
        again = true;
      }
    }
    // rows out of view: the crash-loop window moves for them too
    for (const v of svcs.values()) {
      if (v.looping && !isLooping(v.r, now)) {
        v.looping = false; v.hay = haystack(v); v.ver++; again = true;
      }
    }
    if (again && filter) orderDirty = true;
    if (again) schedule(); else summary();
    if (detailName !== null) detailTick(now);
  }

  // --- sort and filter -----------------------------------------------------------

  function sortBy(key) {
    if (sortKey === key) sortDir = -sortDir; else { sortKey = key; sortDir = 1; }
    for (const th of document.querySelectorAll('#services th')) {
      const on = th.dataset.key === sortKey;
      th.classList.toggle('sorted', on);
      th.classList.toggle('desc', on && sortDir < 0);
      th.setAttribute('aria-sort', on ? (sortDir > 0 ? 'ascending' : 'descending') : 'none');
    }
    orderDirty = true;
    render();
  }

  // --- the token -----------------------------------------------------------------

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
  }

  function tokenState() {
    $('tokenstate').textContent = token() ? 'kept for this tab' : 'none';
  }

  function saveToken(e) {
    e.preventDefault();
    const t = $('token').value.trim();
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
    } catch (err) { /* storage refused: actions will say a token is needed */ }
    $('token').value = '';
    tokenState();
    connect();                            // the stream again, with the token
    if (detailName !== null) loadLogs();
  }

  // --- the detail view -----------------------------------------------------------

  function route() {
    const h = location.hash;
    const m = /^#\/service\/(.+)$/.exec(h);
    if (m) {
      let name;
      try { name = decodeURIComponent(m[1]); } catch (e) { name = m[1]; }
      openDetail(name);
    } else {
      detailName = null;
      $('detail').hidden = true;
      $('list').hidden = false;
      document.title = 'dpweb';
      schedule();
    }
  }

  function openDetail(name) {
    detailName = name;
    history = null;
    $('list').hidden = true;
    $('detail').hidden = false;
    $('d-name').textContent = name;
    $('d-result').textContent = '';
    $('d-result').className = 'result';
    document.title = name + ' · dpweb';
    detailChanged(true);
    loadLogs();
  }

  function field(dl, label, text) {
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    dd.textContent = text;
    dl.appendChild(dt);
    dl.appendChild(dd);
    return dd;
  }

  let timeDd = null;
  function detailChanged(refetch) {
    const v = svcs.get(detailName);
    const dl = $('d-fields');
    const frag = document.createDocumentFragment();
    if (!v) {
      dl.replaceChildren();
      field(frag, 'state', svcs.size ? 'no such service' : 'loading…');
      dl.appendChild(frag);
      drawPlot();
      return;
    }
    const r = v.r, now = monoNow();
    field(frag, 'state', v.shown + (v.looping ? ' (crash-looping)' : '') +
      (v.failed && v.shown !== 'failed' ? ' (failed)' : ''));
    field(frag, 'pid', r.pid === null ? '-' : String(r.pid));
    timeDd = field(frag, r.state === 'up' ? 'up for' : r.state === 'start' ? 'starts' : 'down for',
      timeText(v, now));
    field(frag, 'ready', readyText(r));
    field(frag, 'STATUS=', r.status === null ? '-' : r.status);
    field(frag, 'restarts', String(r.restarts || 0));
    field(frag, 'last exit', lastExit(r));
    if (r.exits) {
      field(frag, 'exits', r.exits.count + ' since the last start asked for; last: ' +
        r.exits.last.map((e) => e.reason + ' ' + e.value + ' after ' + duration(e.uptime))
          .join(', '));
    }
    field(frag, 'desired', r.want ? r.want.want + ' by ' + (r.want.by || '-') +
      (r.want.why && r.want.why.length ? ' (' + r.want.why.join(' ') + ')' : '') : '-');
    field(frag, 'args', (r.args || []).join(' '));
    if (r.auto_up) {
      field(frag, 'auto_up', r.auto_up.interval + 's ' + r.auto_up.triggers.join(' '));
    }
    field(frag, 'fds', (r.fds || []).join(' '));
    if (r.tags && r.tags.length) field(frag, 'tags', r.tags.join(' '));
    if (r.opts && r.opts.length) field(frag, 'opts', r.opts.join(' '));
    if (r.mainpid) field(frag, 'mainpid', String(r.mainpid));
    dl.replaceChildren(frag);
    if (refetch || performance.now() - historyAt > 1000) loadHistory();
    else drawPlot();
  }

  function detailTick(now) {
    const v = svcs.get(detailName);
    if (v && timeDd) timeDd.textContent = timeText(v, now);
    if (history && performance.now() - historyAt > 30000) loadHistory();
  }

  function loadHistory() {
    const name = detailName;
    historyAt = performance.now();
    fetch('/api/services/' + encodeURIComponent(name) + '/history',
      { headers: authHeaders(), cache: 'no-store' })
      .then((res) => (res.ok ? res.json() : null))
      .then((j) => {
        if (name !== detailName) return;
        history = j ? j.history : [];
        drawPlot();
      })
      .catch(() => { if (name === detailName) { history = []; drawPlot(); } });
  }

  function authHeaders() {
    const t = token();
    return t ? { 'X-DPWeb-Token': t } : {};
  }

  // the server's wall clock now, in ms, from the service's own row
  function serverWallMs(r) {
    const now = monoNow();
    if (r && r.since !== null && r.ts !== null && now !== null && r.state !== 'start') {
      return (r.since + (now - r.ts)) * 1000;
    }
    return Date.now();
  }

  const SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, parent) {
    const el = document.createElementNS(SVG, tag);
    for (const k in attrs) el.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(el);
    return el;
  }

  // the timeline: a bar coloured by run state (up green, down grey, down
  // after a failure light red), a tick at every restart, a time axis
  function drawPlot() {
    const box = $('d-plot');
    const v = svcs.get(detailName);
    const W = Math.max(280, Math.floor(box.clientWidth || 600));
    const H = 92, L = 8, R = 8, BAR_Y = 14, BAR_H = 34, AXIS_Y = 62;
    const s = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H,
      role: 'img', 'aria-label': 'timeline of ' + (detailName || '') });
    const end = serverWallMs(v && v.r);
    const start = end - range * 1000;
    const x = (ms) => L + (Math.min(end, Math.max(start, ms)) - start) / (end - start) * (W - L - R);
    svg('rect', { class: 'bg', x: L, y: BAR_Y, width: W - L - R, height: BAR_H }, s);
    const bars = svg('g', { class: 'bars' }, s);
    const ticks = svg('g', { class: 'ticks' }, s);
    const hist = (history || []).slice().sort((a, b) => a.ms - b.ms);
    let state = null, from = null, seenDown = false, restarts = 0;
    const seg = (a, b, st) => {
      if (st === null || b <= start || a >= end || b <= a) return;
      const x0 = x(a), x1 = x(b);
      svg('rect', { class: st, x: x0.toFixed(1), y: BAR_Y, width: Math.max(1, x1 - x0).toFixed(1),
        height: BAR_H }, bars);
    };
    for (const e of hist) {
      let next = state;
      if (e.event === 'up') next = 'up';
      else if (e.event === 'down') {
        next = e.reason === 'exit' && e.value === '0' ? 'down' : 'failed';
      } else if (e.event === 'start' && state === null) next = 'down';
      if (next !== state) {
        if (state !== null) seg(from, e.ms, state);
        state = next;
        from = e.ms;
      }
      if (e.event === 'up' && seenDown && e.ms >= start && e.ms <= end) {
        const tx = x(e.ms).toFixed(1);
        const t = svg('line', { class: 'tick restart', x1: tx, x2: tx, y1: BAR_Y - 8,
          y2: BAR_Y + BAR_H + 4 }, ticks);
        svg('title', {}, t).textContent = 'restart at ' + new Date(e.ms).toLocaleTimeString();
        restarts++;
      }
      if (e.event === 'down') seenDown = true;
    }
    if (v) {
      // the state now, from the row (it may be newer than the history)
      const cur = v.r.state === 'up' ? 'up' : v.r.reason && !cleanExit(v.r) ? 'failed' : 'down';
      if (state === null && v.r.since !== null && v.r.state !== 'start') {
        state = cur; from = v.r.since * 1000;
      }
      if (state !== null) seg(from, end, state);
    }
    // the axis: a label every minute (10 minutes), 10 minutes (hour) or
    // 3 hours (day)
    svg('line', { class: 'axis', x1: L, x2: W - R, y1: AXIS_Y, y2: AXIS_Y }, s);
    const step = range <= 600 ? 60000 : range <= 3600 ? 600000 : 10800000;
    const minGap = 44;
    let lastX = -Infinity;
    for (let t = Math.ceil(start / step) * step; t <= end; t += step) {
      const tx = x(t);
      svg('line', { class: 'axis', x1: tx, x2: tx, y1: AXIS_Y, y2: AXIS_Y + 4 }, s);
      if (tx - lastX < minGap || tx < L + 16 || tx > W - R - 40) continue;
      const d = new Date(t);
      const label = svg('text', { x: tx.toFixed(1), y: AXIS_Y + 17, 'text-anchor': 'middle' }, s);
      label.textContent = pad2(d.getHours()) + ':' + pad2(d.getMinutes());
      lastX = tx;
    }
    const names = { 600: 'last 10 minutes', 3600: 'last hour', 86400: 'last 24 hours' };
    const lab0 = svg('text', { x: L, y: BAR_Y - 3 }, s);
    lab0.textContent = (names[range] || '') + ' · ' + restarts +
      (restarts === 1 ? ' restart' : ' restarts');
    const lab1 = svg('text', { x: W - R, y: AXIS_Y + 17, 'text-anchor': 'end' }, s);
    lab1.textContent = 'now';
    s.dataset.restarts = String(restarts);
    box.replaceChildren(s);
  }

  function loadLogs() {
    const name = detailName;
    const note = $('d-logs-note');
    const pre = $('d-logs');
    if (!token()) {
      note.textContent = 'token needed: the log is read with the token (enter it above; ' +
        'dpweb wrote it to its token file, see dpweb(1)).';
      pre.textContent = '';
      pre.hidden = true;
      return;
    }
    note.textContent = 'loading…';
    fetch('/api/services/' + encodeURIComponent(name) + '/logs?n=200',
      { headers: authHeaders(), cache: 'no-store' })
      .then((res) => res.json().then((j) => [res, j]))
      .then(([res, j]) => {
        if (name !== detailName) return;
        if (!res.ok) {
          note.textContent = res.status === 403 ? 'the token was refused: ' + (j.error || '')
            : 'error ' + res.status + ': ' + (j.error || '');
          pre.hidden = true;
          return;
        }
        const recs = j.records || [];
        note.textContent = j.dir ? recs.length + ' last records of ' + j.dir +
          (j.error ? ' (' + j.error + ')' : '') :
          'no log_dir= tag: dpweb does not know where its log goes.';
        pre.textContent = recs.map((x) => (x.time ? x.time + ' ' : '') + x.text).join('\n');
        pre.hidden = recs.length === 0;
        pre.scrollTop = pre.scrollHeight;
      })
      .catch((err) => { if (name === detailName) note.textContent = 'not loaded: ' + err; });
  }

  function act(verb) {
    const name = detailName;
    const out = $('d-result');
    if (!token()) {
      out.textContent = 'a token is needed for ' + verb + ': enter it above';
      out.className = 'result err';
      return;
    }
    const buttons = document.querySelectorAll('#detail .actions button');
    for (const b of buttons) b.disabled = true;
    out.textContent = verb + '…';
    out.className = 'result';
    fetch('/api/services/' + encodeURIComponent(name) + '/' + verb,
      { method: 'POST', headers: authHeaders(), cache: 'no-store' })
      .then((res) => res.json().then((j) => [res, j], () => [res, {}]))
      .then(([res, j]) => {
        if (res.ok) {
          out.textContent = verb + ': done';
          out.className = 'result ok';
        } else {
          out.textContent = verb + ' refused (' + res.status + '): ' + (j.error || res.statusText);
          out.className = 'result err';
        }
      })
      .catch((err) => {
        out.textContent = verb + ' failed: ' + err;
        out.className = 'result err';
      })
      .finally(() => { for (const b of buttons) b.disabled = false; });
  }

  // --- wiring --------------------------------------------------------------------

  for (const th of document.querySelectorAll('#services th')) {
    th.tabIndex = 0;
    th.addEventListener('click', () => sortBy(th.dataset.key));
    th.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(th.dataset.key); }
    });
  }
  $('filter').addEventListener('input', () => {
    filter = $('filter').value.trim().toLowerCase();
    orderDirty = true;
    scroller.scrollTop = 0;
    render();
  });
  scroller.addEventListener('scroll', schedule, { passive: true });
  window.addEventListener('resize', () => {
    schedule();
    if (detailName !== null) drawPlot();
  });
  $('tokenform').addEventListener('submit', saveToken);
  for (const b of document.querySelectorAll('#detail .actions button')) {
    b.addEventListener('click', () => act(b.dataset.verb));
  }
  for (const b of document.querySelectorAll('#detail .range button')) {
    b.addEventListener('click', () => {
      range = Number(b.dataset.range);
      for (const o of document.querySelectorAll('#detail .range button')) {
        o.classList.toggle('on', o === b);
      }
      drawPlot();
    });
  }
  $('d-logs-reload').addEventListener('click', loadLogs);
  window.addEventListener('hashchange', route);

  sortBy('name');
  tokenState();
  route();
  connect();
  setInterval(tick, 1000);
})();
