// vmstats.js: a running VM's CPU and memory on its page — two small
// graphs of the last five minutes (canvas, drawn here) and the figures
// now as text.  GET /v1/vms/{id}/stats is asked every 3 s while the page
// is open, the VM runs and the tab is shown, one request at a time; the
// samples and the figures come from statseries.js.  dispose() stops it
// all, a request under way included.
import { api, enc } from './api.js';
import { StatsSeries, WINDOW_MS, percentText, unavailableText } from './statseries.js';
import { bytes, h } from './ui.js';

const EVERY_MS = 3000;
const COLORS = { cpu: '#1f6feb', rss: '#137333', memory: '#a15c00', grid: '#dfe3ea', text: '#5d6778' };

// Fits the canvas's pixels to its box (sharp on high-density screens);
// returns its 2D context in CSS pixels, or null while it is not laid out.
function context(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const hgt = canvas.clientHeight;
  if (!w || !hgt) return null;
  if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(hgt * ratio)) {
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(hgt * ratio);
  }
  const g = canvas.getContext('2d');
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, w, hgt);
  return { g, w, h: hgt };
}

// Lines [{points: [{t, v}], color, dashed}] over the window ending at `end`,
// from 0 to yMax, with grid lines at 0, half and yMax labelled by `label`.
function drawGraph(canvas, { lines, yMax, end, label }) {
  const c = context(canvas);
  if (!c) return;
  const { g, w, h: hgt } = c;
  const left = 56;
  const top = 6;
  const plotH = hgt - top - 6;
  const x = (t) => left + ((t - (end - WINDOW_MS)) / WINDOW_MS) * (w - left - 4);
  const y = (v) => top + plotH - (Math.min(v, yMax) / yMax) * plotH;
  g.font = '11px system-ui, sans-serif';
  g.textBaseline = 'middle';
  g.lineWidth = 1;
  for (const v of [0, yMax / 2, yMax]) {
    g.strokeStyle = COLORS.grid;
    g.beginPath();
    g.moveTo(left, Math.round(y(v)) + 0.5);
    g.lineTo(w - 4, Math.round(y(v)) + 0.5);
    g.stroke();
    g.fillStyle = COLORS.text;
    g.fillText(label(v), 2, y(v));
  }
  for (const line of lines) {
    if (!line.points.length) continue;
    g.strokeStyle = line.color;
    g.lineWidth = 2;
    g.setLineDash(line.dashed ? [5, 4] : []);
    g.beginPath();
    line.points.forEach((p, i) => (i ? g.lineTo(x(p.t), y(p.v)) : g.moveTo(x(p.t), y(p.v))));
    if (line.points.length === 1) g.lineTo(w - 4, y(line.points[0].v));
    g.stroke();
  }
  g.setLineDash([]);
}

// The top of the memory scale: `n` rounded up to a whole number of steps
// of a power of two MiB (a quarter of it at least), so the lines at 0,
// half and the top read as round figures (256 MiB, 128 MiB).
function roundedUp(n) {
  let step = 1 << 20;
  while (step * 4 < n) step *= 2;
  return Math.ceil(n / step) * step;
}

// A graph's frame: heading, the figure now, the canvas and what it shows
// for screen readers (the figure text says the same).
function graphBox(id, heading, legend) {
  const figure = h('p', { class: 'stats-figure', id: `stats-${id}`, 'aria-live': 'off' }, `${heading} –`);
  const canvas = h('canvas', { class: 'stats-graph', id: `stats-${id}-graph`, role: 'img', 'aria-label': `${heading} over the last 5 minutes` });
  return { figure, canvas, element: h('div', { class: 'stats-box' }, figure, canvas, h('p', { class: 'hint' }, legend)) };
}

export function statsSection(getVm) {
  const series = new StatsSeries();
  const cpu = graphBox('cpu', 'CPU', 'Percent of one host core used by the VM\'s QEMU: past 100 % with several vCPUs busy.');
  const mem = graphBox('memory', 'Memory', h('span', {}, h('span', { style: `color:${COLORS.rss}` }, '━ resident (RSS)'), '  ',
    h('span', { style: `color:${COLORS.memory}` }, '╍ the size\'s memory'),
    '. QEMU\'s resident memory holds QEMU\'s own too (and under emulation its translated code): it can pass the size.'));
  const message = h('p', { class: 'hint', id: 'stats-message', role: 'status' });
  const element = h('section', { class: 'panel vm-stats', id: 'vm-stats', 'aria-labelledby': 'stats-title' },
    h('h3', { id: 'stats-title' }, 'CPU and memory'), message,
    h('div', { class: 'stats-graphs' }, cpu.element, mem.element));

  let timer = null;
  let inFlight = null; // AbortController of the request under way
  let disposed = false;

  function draw() {
    const now = series.latest();
    const vm = getVm();
    cpu.figure.textContent = `CPU ${percentText(now?.cpuPercent)}`;
    mem.figure.textContent = now ? `Memory ${bytes(now.rss)} resident (size: ${bytes(now.memory)})` : 'Memory –';
    const end = series.samples.at(-1)?.t ?? Date.now();
    const cpuPoints = series.cpuPercent();
    const cores = Math.max(1, vm?.vcpus ?? 1);
    const cpuMax = Math.max(100 * cores, ...cpuPoints.map((p) => Math.ceil(p.v / 50) * 50));
    drawGraph(cpu.canvas, { lines: [{ points: cpuPoints, color: COLORS.cpu }], yMax: cpuMax, end, label: (v) => `${Math.round(v)} %` });
    const memory = now?.memory ?? 0;
    const memMax = roundedUp(Math.max(memory, ...series.samples.map((s) => s.rss), 1 << 20) * 1.05);
    drawGraph(mem.canvas, {
      lines: [{ points: series.rss(), color: COLORS.rss },
        { points: memory ? [{ t: end - WINDOW_MS, v: memory }, { t: end, v: memory }] : [], color: COLORS.memory, dashed: true }],
      yMax: memMax, end, label: (v) => bytes(v),
    });
  }

  async function sample() {
    timer = null;
    const vm = getVm();
    if (disposed || vm?.state !== 'running') return;
    if (!document.hidden) {
      const mine = new AbortController();
      inFlight = mine;
      try {
        series.add(await api.get(`/v1/vms/${enc(vm.id)}/stats`, { signal: mine.signal }));
        message.textContent = '';
      } catch (err) {
        if (err.name === 'AbortError') return; // stopped or left: whoever aborted goes on
        message.textContent = unavailableText(err, getVm()?.state);
      } finally {
        if (inFlight === mine) inFlight = null;
      }
      draw();
    }
    if (!disposed && !timer) timer = setTimeout(sample, EVERY_MS);
  }

  // The VM was loaded or changed: start or stop sampling with its state.
  function update() {
    const vm = getVm();
    const running = vm?.state === 'running';
    element.hidden = !vm;
    if (!running) {
      clearTimeout(timer);
      timer = null;
      inFlight?.abort();
      inFlight = null;
      series.clear(); // a new QEMU starts its count from 0
      if (vm) message.textContent = unavailableText(null, vm.state);
      draw();
    } else if (!timer && !inFlight) {
      sample();
    }
  }

  const onResize = () => draw();
  window.addEventListener('resize', onResize);
  return {
    element,
    update,
    dispose() {
      disposed = true;
      clearTimeout(timer);
      inFlight?.abort();
      window.removeEventListener('resize', onResize);
    },
  };
}
