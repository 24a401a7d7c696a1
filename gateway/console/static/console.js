// The console's only script (CSP: script-src 'self', nothing inline). Three jobs, each on the
// elements that ask for it: live updates (data-live: the server's fragment swapped in), the live
// tail of an open session (data-tail), and the timed replay of a session's timeline (#replay).
// It never sees a token: requests go with the HttpOnly cookie, same origin.
'use strict';

const POLL_MS = 2000;

async function fetchText(url) {
  const res = await fetch(url, { credentials: 'same-origin', headers: { accept: 'text/html' } });
  if (!res.ok || res.redirected) throw new Error(`HTTP ${res.status}`);
  return { text: await res.text(), headers: res.headers };
}

function live(el) {
  let last = el.innerHTML;
  const tick = async () => {
    try {
      const { text } = await fetchText(el.dataset.live);
      if (text !== last) { el.innerHTML = text; last = el.innerHTML; }
      setTimeout(tick, POLL_MS);
    } catch { el.classList.add('stale'); }
  };
  setTimeout(tick, POLL_MS);
}

function tail(list) {
  const tick = async () => {
    try {
      const { text, headers } = await fetchText(`${list.dataset.tail}?after=${list.dataset.last}`);
      if (text) list.insertAdjacentHTML('beforeend', text);
      list.dataset.last = headers.get('x-last-seq') ?? list.dataset.last;
      if (headers.get('x-session-state') === 'open') setTimeout(tick, POLL_MS);
      else list.classList.add('ended');
    } catch { list.classList.add('stale'); }
  };
  setTimeout(tick, POLL_MS);
}

// Replay: events appear at their recorded offset (ms since the session began), divided by the speed.
function replay(panel, list) {
  const clock = panel.querySelector('[data-clock]');
  const speedOf = () => Number(panel.querySelector('[data-action=speed]').value) || 1;
  let t = 0;
  let timer = null;
  let lastTick = 0;
  const events = () => [...list.querySelectorAll('.event')];
  const show = () => {
    let pending = 0;
    for (const e of events()) {
      const due = Number(e.dataset.offset) <= t;
      e.classList.toggle('hidden', !due);
      if (!due) pending++;
    }
    for (const p of list.querySelectorAll('.pair')) p.classList.toggle('hidden', !p.querySelector('.event:not(.hidden)'));
    clock.textContent = `+${(t / 1000).toFixed(3)}s`;
    return pending;
  };
  const step = () => {
    const now = performance.now();
    t += (now - lastTick) * speedOf();
    lastTick = now;
    if (show() === 0) stop(true);
  };
  const stop = (done) => {
    clearInterval(timer);
    timer = null;
    panel.classList.remove('playing');
    if (done) { panel.classList.add('done'); t = 0; }
  };
  panel.addEventListener('click', (ev) => {
    const action = ev.target.closest('[data-action]')?.dataset.action;
    if (action === 'play' && timer === null) {
      panel.classList.remove('done');
      panel.classList.add('playing');
      lastTick = performance.now();
      show();
      timer = setInterval(step, 50);
    } else if (action === 'pause') stop(false);
  });
}

document.addEventListener('DOMContentLoaded', () => {
  for (const el of document.querySelectorAll('[data-live]')) live(el);
  const list = document.getElementById('timeline');
  if (list && list.dataset.tail) tail(list);
  const panel = document.getElementById('replay');
  if (panel && list) replay(panel, list);
});
