// thumbs.js: live pictures of running VMs' screens.  GET
// /v1/vms/{id}/screenshot?size=N needs the Authorization header, so no <img
// src> can load it: it is fetched as a Blob and shown through an object URL,
// the previous URL revoked so the pictures do not pile up in memory.  The
// pictures of running VMs are taken again every few seconds, one at a time
// (each costs the host a VNC connection), and not while the tab is hidden.
import { fetchBlob } from './api.js';
import { h } from './ui.js';

export class Thumbnails {
  constructor({ width = 160, everyMs = 10000 } = {}) {
    this.width = width;
    this.everyMs = everyMs;
    this.items = new Map(); // vm id -> { img, url, running, name }
    this.timer = setInterval(() => this.refreshAll(), everyMs);
    this.busy = false;
  }

  // The <img> for a VM (the same element each time, so a re-drawn row keeps
  // its picture); taken now if the VM runs and has none yet.
  element(vm) {
    let item = this.items.get(vm.id);
    if (!item) {
      const img = h('img', { class: 'thumb', width: this.width, height: Math.round(this.width * 0.625), alt: '', decoding: 'async' });
      item = { img, url: null, running: false, name: vm.name };
      this.items.set(vm.id, item);
    }
    const wasRunning = item.running;
    item.running = vm.state === 'running';
    item.name = vm.name;
    item.img.alt = item.running ? `The screen of ${vm.name}` : `${vm.name} is ${vm.state}: no screen`;
    item.img.classList.toggle('off', !item.running);
    if (item.running && (!wasRunning || !item.url)) this.refresh(vm.id);
    if (!item.running) this.clear(item);
    return item.img;
  }

  clear(item) {
    if (item.url) URL.revokeObjectURL(item.url);
    item.url = null;
    item.img.removeAttribute('src');
  }

  async refresh(id) {
    const item = this.items.get(id);
    if (!item?.running) return;
    try {
      const blob = await fetchBlob(`/v1/vms/${encodeURIComponent(id)}/screenshot?size=${this.width}`);
      if (!this.items.has(id) || !item.running) return;
      const old = item.url;
      item.url = URL.createObjectURL(blob);
      item.img.src = item.url;
      item.img.title = `Screen at ${new Date().toLocaleTimeString()}`;
      if (old) URL.revokeObjectURL(old);
    } catch (err) {
      // Booting or busy: keep the last picture, say why on hover.
      item.img.title = `No picture now: ${err.message}`;
    }
  }

  async refreshAll() {
    if (document.hidden || this.busy) return;
    this.busy = true;
    try {
      for (const [id, item] of this.items) if (item.running) await this.refresh(id);
    } finally {
      this.busy = false;
    }
  }

  forget(id) {
    const item = this.items.get(id);
    if (item) this.clear(item);
    this.items.delete(id);
  }

  dispose() {
    clearInterval(this.timer);
    for (const item of this.items.values()) this.clear(item);
    this.items.clear();
  }
}
