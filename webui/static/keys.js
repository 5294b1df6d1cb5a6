// keys.js: the stored SSH public keys — list them with their fingerprints,
// add one by pasting it, delete one (VMs keep their own copies, so nobody
// is locked out of an existing VM).
import { api, enc, listAll } from './api.js';
import { ago, ask, busy, emptyRow, errorBox, field, h, heading, showFormError, title, td } from './ui.js';

// A name from the key's comment ("alice@laptop" -> "alice-laptop").
function nameFromKey(text) {
  const comment = text.trim().split(/\s+/).slice(2).join(' ');
  return comment.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
}

export function mount(root) {
  title('SSH keys');
  const tbody = h('tbody', { id: 'key-rows' });
  const listError = errorBox('keys-error');
  const formError = errorBox('key-form-error');
  const name = h('input', { id: 'key-name', name: 'name', required: true, maxlength: 63, autocomplete: 'off', spellcheck: false, placeholder: 'laptop' });
  const publicKey = h('textarea', { id: 'key-public', name: 'public_key', required: true, rows: 3, spellcheck: false, placeholder: 'ssh-ed25519 AAAAC3Nza… alice@laptop' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'add-key' }, 'Add key');
  const form = h('form', { class: 'panel', id: 'key-form', 'aria-labelledby': 'key-form-title' },
    h('h3', { id: 'key-form-title' }, 'Add a key'),
    field('Public key', publicKey, 'One line, as in ~/.ssh/id_ed25519.pub (never the private key). ed25519, RSA (2048 bits or more) and ECDSA keys are accepted.'),
    field('Name', name, 'Lower-case letters, digits and hyphens.'),
    h('div', { class: 'buttons' }, submit), formError);
  let nameTouched = false;
  name.addEventListener('input', () => { nameTouched = true; });
  publicKey.addEventListener('input', () => { if (!nameTouched) name.value = nameFromKey(publicKey.value); });

  root.append(heading('SSH keys'),
    h('p', { class: 'muted' }, 'The keys you choose when you create a VM are installed for its login user.'),
    listError,
    h('div', { class: 'table-wrap' },
      h('table', { class: 'cards-on-phone' },
        h('thead', {}, h('tr', {}, ['Name', 'Type', 'Fingerprint', 'Comment', 'Added', ''].map((c) => h('th', { scope: 'col' }, c)))),
        tbody)),
    form);

  async function remove(key) {
    if (!(await ask({ title: `Delete the key "${key.name}"?`, body: [h('p', {}, 'VMs that have it keep their copy; new VMs can no longer be given it.')], confirm: 'Delete key', danger: true }))) return;
    await api.del(`/v1/ssh-keys/${enc(key.name)}`);
    await load();
  }

  function row(key) {
    const del = h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete the key ${key.name}` }, 'Delete');
    del.addEventListener('click', () => busy(del, () => remove(key)));
    return h('tr', { dataset: { keyName: key.name } },
      td({ 'data-label': 'Name' }, key.name),
      td({ 'data-label': 'Type' }, `${key.type} (${key.bits} bits)`),
      td({ 'data-label': 'Fingerprint' }, h('code', {}, key.fingerprint)),
      td({ 'data-label': 'Comment' }, key.comment || h('span', { class: 'muted' }, '–')),
      td({ 'data-label': 'Added' }, ago(key.created_at)),
      td({ 'data-label': '' }, del));
  }

  async function load() {
    try {
      const keys = await listAll('/v1/ssh-keys', 'ssh_keys');
      tbody.replaceChildren(...(keys.length ? keys.map(row) : [emptyRow(6, 'No keys yet: add yours below.')]));
      listError.textContent = '';
    } catch (err) {
      listError.textContent = `The keys could not be loaded: ${err.message}`;
    }
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(submit, async () => {
      showFormError(form, null, formError);
      try {
        await api.post('/v1/ssh-keys', { name: name.value.trim(), public_key: publicKey.value.trim() });
        form.reset();
        nameTouched = false;
        await load();
      } catch (err) {
        showFormError(form, err, formError);
      }
    });
  });

  load();
  return () => {};
}
