// statseries.js: the samples of GET /v1/vms/{id}/stats that a VM's page
// keeps for its graphs, and the figures drawn from them.  No DOM here (the
// module tests run it under node).
//
// A sample is {cpu_seconds, rss_bytes, memory_bytes, sampled_at}.
// cpu_seconds is a counter (QEMU's user + system time since it started):
// the CPU figure is its growth over the growth of sampled_at, as a
// percentage of one core, so it can pass 100 % with several vCPUs.  A
// counter that goes back means a new QEMU (the VM was restarted): the
// series starts again.

export const WINDOW_MS = 5 * 60 * 1000;

export class StatsSeries {
  constructor(windowMs = WINDOW_MS) {
    this.windowMs = windowMs;
    this.samples = []; // {t (ms), cpu, rss, memory}, oldest first
  }

  // Adds an answer of the API; an older or repeated one changes nothing.
  add(stats) {
    const t = Date.parse(stats.sampled_at);
    if (!Number.isFinite(t)) return;
    const last = this.samples.at(-1);
    if (last && t <= last.t) return;
    if (last && stats.cpu_seconds < last.cpu) this.samples = [];
    this.samples.push({ t, cpu: stats.cpu_seconds, rss: stats.rss_bytes, memory: stats.memory_bytes });
    const oldest = t - this.windowMs;
    while (this.samples.length && this.samples[0].t < oldest) this.samples.shift();
  }

  clear() { this.samples = []; }

  // CPU % between each sample and the one before: [{t, v}].
  cpuPercent() {
    const out = [];
    for (let i = 1; i < this.samples.length; i++) {
      const a = this.samples[i - 1];
      const b = this.samples[i];
      out.push({ t: b.t, v: Math.max(0, ((b.cpu - a.cpu) / ((b.t - a.t) / 1000)) * 100) });
    }
    return out;
  }

  rss() { return this.samples.map((s) => ({ t: s.t, v: s.rss })); }

  // The latest figures: {cpuPercent (null until two samples), rss, memory}, or null.
  latest() {
    const last = this.samples.at(-1);
    if (!last) return null;
    return { cpuPercent: this.cpuPercent().at(-1)?.v ?? null, rss: last.rss, memory: last.memory };
  }
}

// "12.3 %" (one decimal under 100, none above).
export function percentText(v) {
  if (v === null || v === undefined) return '–';
  return `${v < 100 ? v.toFixed(1) : Math.round(v)} %`;
}

// What to say when the figures cannot be had (an ApiError from api.js).
export function unavailableText(err, vmState) {
  if (vmState && vmState !== 'running') return `CPU and memory figures show while the VM runs (it is ${vmState}).`;
  if (err?.status === 409) return 'CPU and memory figures show while the VM runs.';
  return `CPU and memory figures are unavailable now: ${err?.message ?? 'no answer'}`;
}
