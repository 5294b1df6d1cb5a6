// create.js: the form that creates a VM — a name, an image (grouped by OS,
// with its architecture), a size (vCPUs, memory and disk shown), SSH keys,
// and optionally cloud-init user-data with a hint on what kind it is and
// what is wrong with it — then on to the VM's page, where the operation's
// progress (image download, boot) shows.  An API error naming a field
// shows under that field.
import { api, listAll } from './api.js';
import * as ops from './ops.js';
import { archLabel, errorBox, field, h, heading, showFormError, sizeFigures, title } from './ui.js';

const NAME_PATTERN = '[a-z0-9]([a-z0-9\\-]{0,61}[a-z0-9])?';
const OS_LABELS = { debian: 'Debian', ubuntu: 'Ubuntu', fedora: 'Fedora', alpine: 'Alpine', tiny: 'Tiny test guest' };
const osLabel = (os) => OS_LABELS[os] ?? os.charAt(0).toUpperCase() + os.slice(1);

// What cloud-init will make of the user-data, and what looks wrong in it:
// { kind: 'ok' | 'warn' | 'error', text }.
export function userDataHint(text) {
  if (!text.trim()) return { kind: 'ok', text: 'Optional. Without it the VM gets its hostname, login user and SSH keys.' };
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > 65536) return { kind: 'error', text: `${bytes} bytes: at most 65536 (64 KiB) are accepted.` };
  const first = text.split('\n', 1)[0].trim();
  if (first.startsWith('#cloud-config')) {
    const tab = text.split('\n').findIndex((line) => /^\s*\t/.test(line));
    if (tab >= 0) return { kind: 'error', text: `Line ${tab + 1} is indented with a tab: YAML allows spaces only.` };
    // A top-level line that is neither "key: value" nor a comment is the usual slip.
    const bad = text.split('\n').findIndex((line, i) => i > 0 && /^[^\s#-]/.test(line) && !/^[^:]+:(\s|$)/.test(line));
    if (bad >= 0) return { kind: 'warn', text: `Line ${bad + 1} looks wrong: top-level lines are "key: value" (a space after the colon).` };
    return { kind: 'ok', text: '#cloud-config: merged with the generated one (hostname, login user, SSH keys); yours wins where both set something.' };
  }
  if (first.startsWith('#!')) return { kind: 'ok', text: `A script (${first.slice(2).trim() || 'no interpreter named'}): run once, as root, at the end of the first boot.` };
  if (first.startsWith('#cloud-boothook')) return { kind: 'ok', text: '#cloud-boothook: run early at every boot.' };
  return { kind: 'error', text: 'The first line must say what this is: #cloud-config (YAML), #! (a script) or #cloud-boothook.' };
}

function imageSelect(images) {
  const select = h('select', { id: 'vm-image', name: 'image', required: true });
  select.append(h('option', { value: '' }, 'Choose an image…'));
  const byOs = new Map();
  for (const img of images) {
    if (!byOs.has(img.os)) byOs.set(img.os, []);
    byOs.get(img.os).push(img);
  }
  for (const os of [...byOs.keys()].sort()) {
    const group = h('optgroup', { label: osLabel(os) });
    const list = byOs.get(os).sort((a, b) => b.version.localeCompare(a.version, undefined, { numeric: true }) || a.architecture.localeCompare(b.architecture));
    for (const img of list) {
      const ready = (img.state ?? 'ready') === 'ready';
      group.append(h('option', { value: img.name, disabled: !ready },
        `${osLabel(img.os)} ${img.version} · ${archLabel(img.architecture)} · ${img.name}${ready ? '' : ` (${img.state})`}`));
    }
    select.append(group);
  }
  return select;
}

function sizeChoices(sizes) {
  const sorted = [...sizes].sort((a, b) => a.vcpus - b.vcpus || a.memory_mib - b.memory_mib || a.disk_gib - b.disk_gib);
  return h('fieldset', { class: 'choices sizes', id: 'vm-size' },
    h('legend', {}, 'Size'),
    sorted.length === 0 ? h('p', {}, 'No sizes: add one on the ', h('a', { href: '#/sizes' }, 'Sizes'), ' page.') : null,
    sorted.map((s, i) => h('label', { class: 'choice' },
      h('input', { type: 'radio', name: 'size', value: s.name, required: true, checked: i === 0 }),
      h('span', { class: 'choice-name' }, s.name),
      h('span', { class: 'choice-figures' }, sizeFigures(s)))),
    h('p', { class: 'error', role: 'alert', dataset: { errorFor: 'size' } }));
}

function keyChoices(keys) {
  return h('fieldset', { class: 'choices keys', id: 'vm-keys' },
    h('legend', {}, 'SSH keys'),
    keys.length === 0
      ? h('p', { class: 'hint' }, 'No SSH keys yet: add yours on the ', h('a', { href: '#/keys' }, 'SSH keys'), ' page, or log in through user-data.')
      : keys.map((k) => h('label', { class: 'choice' },
        h('input', { type: 'checkbox', name: 'ssh_keys', value: k.name, checked: keys.length === 1 }),
        h('span', { class: 'choice-name' }, k.name),
        h('code', { class: 'choice-figures' }, `${k.type} ${k.fingerprint}`))),
    h('p', { class: 'error', role: 'alert', dataset: { errorFor: 'ssh_keys' } }));
}

export function mount(root) {
  title('Create a VM');
  const formError = errorBox('create-error');
  const container = h('div', {}, h('p', { class: 'muted' }, 'Loading images, sizes and keys…'));
  root.append(h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/vms' }, '← Virtual machines')),
    heading('Create a VM'), container);
  let alive = true;

  Promise.all([
    listAll('/v1/images', 'images'),
    listAll('/v1/sizes', 'sizes'),
    listAll('/v1/ssh-keys', 'ssh_keys'),
    listAll('/v1/hosts', 'hosts'),
  ]).then(([images, sizes, keys, hosts]) => {
    if (alive) container.replaceChildren(form(images, sizes, keys, hosts, formError));
  }).catch((err) => {
    if (alive) container.replaceChildren(h('p', { class: 'error', role: 'alert' }, `The form cannot be shown: ${err.message}`));
  });
  return () => { alive = false; };
}

function form(images, sizes, keys, hosts, formError) {
  const name = h('input', { id: 'vm-name', name: 'name', required: true, maxlength: 63, autocomplete: 'off', spellcheck: false, pattern: NAME_PATTERN, placeholder: 'web-1' });
  const image = imageSelect(images);
  const imageInfo = h('p', { class: 'hint', id: 'vm-image-info', 'aria-live': 'polite' });
  const userData = h('textarea', { id: 'vm-user-data', name: 'user_data', rows: 8, spellcheck: false, placeholder: '#cloud-config\npackages: [nginx]\nruncmd:\n  - systemctl enable --now nginx' });
  const userDataHintEl = h('p', { class: 'hint ud-hint', id: 'vm-user-data-hint', 'aria-live': 'polite' });
  userData.setAttribute('aria-describedby', 'vm-user-data-hint vm-user-data-error');
  const host = h('select', { id: 'vm-host', name: 'host' },
    h('option', { value: '' }, 'Any host with room (recommended)'),
    hosts.map((x) => h('option', { value: x.name, disabled: x.state !== 'up' || x.drained }, `${x.name} (${x.architecture}, ${x.drained ? 'drained' : x.state})`)));
  const autostart = h('select', { id: 'vm-autostart', name: 'autostart' },
    h('option', { value: 'last' }, 'Start it again if it was running (default)'),
    h('option', { value: 'always' }, 'Always start it'),
    h('option', { value: 'never' }, 'Leave it stopped'));
  const submit = h('button', { type: 'submit', class: 'primary', id: 'create-submit' }, 'Create VM');

  const byName = new Map(images.map((i) => [i.name, i]));
  let nameTouched = false;
  name.addEventListener('input', () => { nameTouched = true; });
  image.addEventListener('change', () => {
    const img = byName.get(image.value);
    imageInfo.textContent = img
      ? `Logs in as "${img.login_user}", boots ${img.boot === 'kernel' ? 'its kernel directly' : 'through UEFI firmware'}${img.origin === 'catalog' ? '; downloaded on first use' : ''}.`
      : '';
    if (img && !nameTouched) name.value = `${img.os}-${Math.random().toString(16).slice(2, 6)}`;
  });
  const showHint = () => {
    const hint = userDataHint(userData.value);
    userDataHintEl.textContent = hint.text;
    userDataHintEl.className = `hint ud-hint ud-${hint.kind}`;
  };
  userData.addEventListener('input', showHint);
  showHint();

  const el = h('form', { id: 'create-form', class: 'panel create', novalidate: true },
    field('Name', name, 'Also the guest\'s hostname: lower-case letters, digits and hyphens.'),
    h('div', { class: 'field' }, h('label', { for: 'vm-image' }, 'Image'), image, imageInfo,
      h('p', { class: 'error', role: 'alert', dataset: { errorFor: 'image' } })),
    sizeChoices(sizes),
    keyChoices(keys),
    h('details', { class: 'advanced' },
      h('summary', {}, 'User-data, host and restarts (optional)'),
      h('div', { class: 'field' }, h('label', { for: 'vm-user-data' }, 'User-data (cloud-init)'), userData, userDataHintEl,
        h('p', { class: 'error', role: 'alert', id: 'vm-user-data-error', dataset: { errorFor: 'user_data' } })),
      field('Host', host),
      field('After its host restarts', autostart)),
    h('div', { class: 'buttons' }, h('a', { class: 'button', href: '#/vms' }, 'Cancel'), submit),
    formError);

  el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    showFormError(el, null, formError);
    const body = {
      name: name.value.trim(),
      image: image.value,
      size: el.querySelector('input[name=size]:checked')?.value ?? '',
      ssh_keys: [...el.querySelectorAll('input[name=ssh_keys]:checked')].map((c) => c.value),
    };
    if (userData.value.trim()) body.user_data = userData.value;
    if (host.value) body.host = host.value;
    if (autostart.value !== 'last') body.autostart = autostart.value;
    // Said here, in the person's words, before asking the API.
    const local = !body.name ? { field: 'name', message: 'Give the VM a name.' }
      : !body.image ? { field: 'image', message: 'Choose an image.' }
        : !body.size ? { field: 'size', message: 'Choose a size.' }
          : body.ssh_keys.length === 0 && !body.user_data ? { field: 'ssh_keys', message: 'Choose at least one SSH key (or give user-data), or nobody can log in.' }
            : userDataHint(userData.value).kind === 'error' ? { field: 'user_data', message: userDataHint(userData.value).text } : null;
    if (local) return showFormError(el, local, formError);
    submit.disabled = true;
    submit.textContent = 'Creating…';
    try {
      const answer = await api.post('/v1/vms', body);
      ops.track(answer.operation);
      location.hash = `#/vms/${encodeURIComponent(answer.vm.name)}`;
    } catch (err) {
      showFormError(el, err, formError);
    } finally {
      submit.disabled = false;
      submit.textContent = 'Create VM';
    }
  });
  return el;
}
