// images.js: the OS images VMs boot from, grouped by OS — add one by URL
// and checksum, delete one, and see downloads in progress.  Hosts fetch an
// image when a VM first needs it: that download is part of the VM's
// creation, whose progress message names the image, so it shows on the
// image's row; an image being made here (from a snapshot, or baked) shows
// its own operation.
import { api, enc, listAll } from './api.js';
import * as events from './events.js';
import * as ops from './ops.js';
import { ago, archLabel, ask, badge, busy, bytes, debounce, errorBox, field, h, heading, poll, progressBar, showFormError, title, td } from './ui.js';

const ORIGINS = { catalog: 'catalog', user: 'added by URL', import: 'built locally', snapshot: 'from a snapshot', bake: 'baked' };

// The downloads under way, by image name: VM creations whose message says
// "downloading image 'NAME': ...".
function downloads() {
  const byImage = new Map();
  for (const op of ops.inFlight()) {
    const m = /downloading image '([^']+)'/.exec(op.message ?? '');
    if (m) byImage.set(m[1], op);
  }
  return byImage;
}

function progressOf(img, downloading) {
  const made = ops.forTarget(img.id);
  if (made) return ops.statusElement(made);
  const dl = downloading.get(img.name);
  if (dl) return progressBar(dl.progress ?? 0, dl.message, `Downloading ${img.name}`);
  return null;
}

function addForm(onAdded) {
  const formError = errorBox('image-form-error');
  const input = (id, name, attrs = {}) => h('input', { id, name, autocomplete: 'off', spellcheck: false, ...attrs });
  const name = input('image-name', 'name', { required: true, maxlength: 63, placeholder: 'ubuntu-24-04-amd64' });
  const os = input('image-os', 'os', { required: true, maxlength: 63, placeholder: 'ubuntu' });
  const version = input('image-version', 'version', { required: true, maxlength: 32, placeholder: '24.04' });
  const arch = h('select', { id: 'image-arch', name: 'architecture' }, h('option', { value: 'x86_64' }, 'x86_64 (amd64)'), h('option', { value: 'aarch64' }, 'aarch64 (arm64)'));
  const url = input('image-url', 'url', { required: true, type: 'url', maxlength: 2048, placeholder: 'https://cloud-images.ubuntu.com/…/noble-server-cloudimg-amd64.img' });
  const checksum = input('image-checksum', 'checksum', { required: true, placeholder: 'sha256:… or sha512:…' });
  const user = input('image-user', 'login_user', { required: true, maxlength: 32, placeholder: 'ubuntu' });
  const format = h('select', { id: 'image-format', name: 'format' }, h('option', { value: 'qcow2' }, 'qcow2'), h('option', { value: 'raw' }, 'raw'));
  const submit = h('button', { type: 'submit', class: 'primary', id: 'add-image' }, 'Add image');
  const form = h('form', { class: 'panel', id: 'image-form', 'aria-labelledby': 'image-form-title' },
    h('h3', { id: 'image-form-title' }, 'Add an image'),
    h('p', { class: 'hint' }, 'A cloud image with cloud-init, booting through UEFI. Nothing is downloaded now: each host fetches it and checks its checksum when a VM first needs it.'),
    field('Download URL', url, 'http://, https:// or file:///'),
    field('Checksum', checksum, 'The file\'s SHA-256 or SHA-512 as published beside it, prefixed with its algorithm: sha256:9f86… (Debian publishes SHA512SUMS).'),
    h('div', { class: 'row3' }, field('Name', name), field('OS', os, 'e.g. ubuntu, debian'), field('Version', version)),
    h('div', { class: 'row3' }, field('Architecture', arch), field('Login user', user, 'The user cloud-init creates'), field('Format', format)),
    h('div', { class: 'buttons' }, submit), formError);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(submit, async () => {
      showFormError(form, null, formError);
      let sum = checksum.value.trim();
      // A bare hex digest: its length says the algorithm.
      if (/^[0-9a-fA-F]{64}$/.test(sum)) sum = `sha256:${sum.toLowerCase()}`;
      else if (/^[0-9a-fA-F]{128}$/.test(sum)) sum = `sha512:${sum.toLowerCase()}`;
      try {
        await api.post('/v1/images', {
          name: name.value.trim(), os: os.value.trim(), version: version.value.trim(), architecture: arch.value,
          url: url.value.trim(), checksum: sum, login_user: user.value.trim(), format: format.value,
        });
        form.reset();
        await onAdded();
      } catch (err) {
        showFormError(form, err, formError);
      }
    });
  });
  return form;
}

export function mount(root) {
  title('Images');
  const listError = errorBox('images-error');
  const groups = h('div', { id: 'image-groups' });
  let images = [];
  root.append(heading('Images'), listError, groups, addForm(load));

  async function remove(img) {
    if (!(await ask({ title: `Delete the image "${img.name}"?`, body: [h('p', {}, 'New VMs can no longer be made from it. It is refused while a VM uses it.')], confirm: 'Delete image', danger: true }))) return;
    await api.del(`/v1/images/${enc(img.name)}`);
    await load();
  }

  function row(img, downloading) {
    const del = h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete the image ${img.name}` }, 'Delete');
    del.addEventListener('click', () => busy(del, () => remove(img)));
    const state = img.state ?? 'ready';
    return h('tr', { dataset: { imageName: img.name, state } },
      td({ 'data-label': 'Name' }, h('span', { class: 'strong' }, img.name), h('div', { class: 'muted small-text', title: img.url }, ORIGINS[img.origin] ?? img.origin)),
      td({ 'data-label': 'Version' }, img.version),
      td({ 'data-label': 'Architecture' }, archLabel(img.architecture)),
      td({ 'data-label': 'Boot' }, img.boot === 'kernel' ? 'kernel' : 'UEFI', ` · ${img.format}`),
      td({ 'data-label': 'Login' }, h('code', {}, img.login_user)),
      td({ 'data-label': 'State' }, badge(state), h('div', { class: 'op-slot' }, progressOf(img, downloading))),
      td({ 'data-label': 'Size' }, img.size_bytes ? bytes(img.size_bytes) : h('span', { class: 'muted' }, '–')),
      td({ 'data-label': 'Added' }, ago(img.created_at)),
      td({ 'data-label': '' }, del));
  }

  function draw() {
    const downloading = downloads();
    const byOs = new Map();
    for (const img of images) {
      if (!byOs.has(img.os)) byOs.set(img.os, []);
      byOs.get(img.os).push(img);
    }
    if (byOs.size === 0) {
      groups.replaceChildren(h('p', { class: 'muted' }, 'No images: add one below.'));
      return;
    }
    groups.replaceChildren(...[...byOs.keys()].sort().map((os) => h('section', { class: 'panel', 'aria-label': `${os} images` },
      h('h3', {}, os.charAt(0).toUpperCase() + os.slice(1)),
      h('div', { class: 'table-wrap' }, h('table', { class: 'cards-on-phone' },
        h('thead', {}, h('tr', {}, ['Name', 'Version', 'Architecture', 'Boot', 'Login', 'State', 'Size', 'Added', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, byOs.get(os).sort((a, b) => a.name.localeCompare(b.name)).map((img) => row(img, downloading))))))));
  }

  async function load() {
    try {
      images = await listAll('/v1/images', 'images');
      listError.textContent = '';
      draw();
    } catch (err) {
      listError.textContent = `The images could not be loaded: ${err.message}`;
    }
  }

  const reload = debounce(load, 150);
  const redraw = debounce(draw, 100);
  const offImages = events.subscribe('image.', reload);
  const offOps = ops.onChange((op) => {
    redraw(); // a download's bar comes and goes with its VM's operation messages
    if (op.target?.type === 'image' && ops.finished(op)) reload();
  });
  const offStatus = events.onStatus((s) => { if (s === 'live') reload(); });
  const stopPoll = poll(load, { fastMs: 5000, slowMs: 60000, busy: () => images.some((i) => i.state === 'creating') || downloads().size > 0 });
  load();
  return () => { offImages(); offOps(); offStatus(); stopPoll(); reload.cancel(); redraw.cancel(); };
}
