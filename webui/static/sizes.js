// sizes.js: the sizes VMs are made in (vCPUs, memory, disk) — list, add,
// delete (refused while a VM uses one; the API says so and it shows).
import { api, enc, listAll } from './api.js';
import { ask, busy, emptyRow, errorBox, field, gib, h, heading, mib, showFormError, title, td } from './ui.js';

export function mount(root) {
  title('Sizes');
  const tbody = h('tbody', { id: 'size-rows' });
  const listError = errorBox('sizes-error');
  const formError = errorBox('size-form-error');
  const input = (id, name, attrs) => h('input', { id, name, required: true, autocomplete: 'off', ...attrs });
  const name = input('size-name', 'name', { maxlength: 63, placeholder: 's-2vcpu-4gb', spellcheck: false });
  const vcpus = input('size-vcpus', 'vcpus', { type: 'number', min: 1, max: 128, value: 1, inputmode: 'numeric' });
  const memory = input('size-memory', 'memory_mib', { type: 'number', min: 128, step: 128, value: 1024, inputmode: 'numeric' });
  const disk = input('size-disk', 'disk_gib', { type: 'number', min: 1, value: 10, inputmode: 'numeric' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'add-size' }, 'Add size');
  const form = h('form', { class: 'panel', id: 'size-form', 'aria-labelledby': 'size-form-title' },
    h('h3', { id: 'size-form-title' }, 'Add a size'),
    field('Name', name, 'Lower-case letters, digits and hyphens, e.g. s-2vcpu-4gb.'),
    h('div', { class: 'row3' },
      field('vCPUs', vcpus),
      field('Memory (MiB)', memory, '1024 MiB = 1 GiB; at least 128.'),
      field('Disk (GiB)', disk)),
    h('div', { class: 'buttons' }, submit), formError);

  root.append(heading('Sizes'), listError,
    h('div', { class: 'table-wrap' },
      h('table', { class: 'cards-on-phone' },
        h('thead', {}, h('tr', {}, ['Name', 'vCPUs', 'Memory', 'Disk', ''].map((c) => h('th', { scope: 'col' }, c)))),
        tbody)),
    form);

  async function remove(size) {
    if (!(await ask({ title: `Delete the size "${size.name}"?`, confirm: 'Delete size', danger: true }))) return;
    await api.del(`/v1/sizes/${enc(size.name)}`);
    await load();
  }

  function row(size) {
    const del = h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete the size ${size.name}` }, 'Delete');
    del.addEventListener('click', () => busy(del, () => remove(size)));
    return h('tr', { dataset: { sizeName: size.name } },
      td({ 'data-label': 'Name' }, size.name),
      td({ 'data-label': 'vCPUs' }, String(size.vcpus)),
      td({ 'data-label': 'Memory' }, mib(size.memory_mib)),
      td({ 'data-label': 'Disk' }, gib(size.disk_gib)),
      td({ 'data-label': '' }, del));
  }

  async function load() {
    try {
      const sizes = (await listAll('/v1/sizes', 'sizes')).sort((a, b) => a.vcpus - b.vcpus || a.memory_mib - b.memory_mib);
      tbody.replaceChildren(...(sizes.length ? sizes.map(row) : [emptyRow(5, 'No sizes: add one below.')]));
      listError.textContent = '';
    } catch (err) {
      listError.textContent = `The sizes could not be loaded: ${err.message}`;
    }
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    busy(submit, async () => {
      showFormError(form, null, formError);
      try {
        await api.post('/v1/sizes', {
          name: name.value.trim(), vcpus: Number(vcpus.value), memory_mib: Number(memory.value), disk_gib: Number(disk.value),
        });
        name.value = '';
        await load();
      } catch (err) {
        showFormError(form, err, formError);
      }
    });
  });

  load();
  return () => {};
}
