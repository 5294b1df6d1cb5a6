// The dashboard: sign in with the admin token (kept in this tab's
// sessionStorage, sent as a Bearer header, never in a URL), then the VMs,
// refreshed every few seconds.  Everything goes through /api, the control
// plane's API on this origin.
const $ = (id) => document.getElementById(id);
const TOKEN = 'cumulus.token';

async function api(path) {
  const res = await fetch(`/api${path}`, { headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN)}` } });
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const e = new Error(body?.error?.message ?? `the control plane answered ${res.status}`);
    e.status = res.status;
    throw e;
  }
  return body;
}

function cell(text, cls) {
  const td = document.createElement('td');
  td.textContent = text ?? '';
  if (cls) td.className = cls;
  return td;
}

async function refresh() {
  try {
    const { vms } = await api('/v1/vms?limit=1000');
    const rows = vms.map((vm) => {
      const tr = document.createElement('tr');
      const ssh = vm.ssh?.command ?? "";
      tr.append(cell(vm.name), cell(vm.state, `state-${vm.state}`), cell(vm.host), cell(vm.size), cell(vm.image), cell(ssh));
      return tr;
    });
    $('vm-rows').replaceChildren(...rows);
    $('vms-error').textContent = '';
  } catch (e) {
    if (e.status === 401) return signOut('That token is no longer accepted: sign in again.');
    $('vms-error').textContent = e.message;
  }
}

let timer = null;
function show(signedIn) {
  $('sign-in').hidden = signedIn;
  $('vms').hidden = !signedIn;
  $('sign-out').hidden = !signedIn;
  clearInterval(timer);
  if (signedIn) { refresh(); timer = setInterval(refresh, 3000); }
}

function signOut(why = '') {
  sessionStorage.removeItem(TOKEN);
  $('sign-in-error').textContent = why;
  show(false);
}

$('sign-in').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN, $('token').value.trim());
  try {
    await api('/v1/vms?limit=1');
    $('token').value = '';
    $('sign-in-error').textContent = '';
    show(true);
  } catch (e) {
    sessionStorage.removeItem(TOKEN);
    $('sign-in-error').textContent = e.status === 401 ? 'That token is not accepted.' : e.message;
  }
});
$('sign-out').addEventListener('click', () => signOut());
show(Boolean(sessionStorage.getItem(TOKEN)));
