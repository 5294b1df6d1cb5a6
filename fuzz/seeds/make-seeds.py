#!/usr/bin/env python3
"""make-seeds.py: writes the hand-made seeds of fuzz/corpus/ that are not
there yet (the corpus is committed and grown by fuzz/run --merge).  Keys
come from ssh-keygen in a temporary directory, new each run: seeds already
written are kept as they are."""
import os, subprocess, sys, tempfile, hashlib, hmac, json

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'corpus')

def seed(name, label, data):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path = os.path.join(d, 'seed-' + label)
    if os.path.exists(path):
        return
    with open(path, 'wb') as f:
        f.write(data)

keys = {}
with tempfile.TemporaryDirectory() as t:
    for typ, bits in [('ed25519', None), ('rsa', '2048'), ('ecdsa', '256'), ('ecdsa', '384'), ('ecdsa', '521')]:
        p = os.path.join(t, f'{typ}{bits or ""}')
        cmd = ['ssh-keygen', '-q', '-t', typ, '-N', '', '-C', f'user@{typ}', '-f', p]
        if bits:
            cmd[4:4] = ['-b', bits]
        subprocess.run(cmd, check=True)
        keys[f'{typ}{bits or ""}'] = open(p + '.pub').read().strip()

# sshkey
for k, v in keys.items():
    seed('sshkey', k, v + '\n')
seed('sshkey', 'no-comment', keys['ed25519'].rsplit(' ', 1)[0])
seed('sshkey', 'options-prefix', 'command="ls" ' + keys['ed25519'])
seed('sshkey', 'type-mismatch', 'ssh-rsa ' + keys['ed25519'].split()[1])
seed('sshkey', 'bad-base64', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA!!!')
seed('sshkey', 'private', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n')
seed('sshkey', 'sk', 'sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIA== x')

# yaml
yamls = {
    'map': 'packages:\n  - nginx\n  - htop\nruncmd:\n  - [sh, -c, "echo hi"]\n',
    'scalars': 'a: yes\nb: 0x1f\nc: 1:30\nd: .5\ne: ~\nf: "quoted"\ng: 2001-12-14\nh: 0o17\n',
    'tags': 'a: !!str 12\nb: !!int "7"\nc: !!seq [1, 2]\nd: !!map {x: 1}\n',
    'block': 'write_files:\n  - path: /etc/x\n    content: |\n      line one\n      line two\n',
    'anchor': 'a: &x 1\nb: *x\n',
    'multi-doc': 'a: 1\n---\nb: 2\n',
    'flow': '{a: [1, {b: c}], "d": null}\n',
    'users': 'users:\n  - default\n  - name: bob\n    sudo: ALL=(ALL) NOPASSWD:ALL\n',
    'merge-key': 'a:\n  <<: {b: 1}\n',
    'float': 'x: 1.0e+3\ny: -.inf\n',
}
for k, v in yamls.items():
    seed('yaml', k, v)

# cloudinit: hostname, login user, flags, keys, empty line, user_data
ed = keys['ed25519']
ci = {
    'cloud-config': f'web-1\ndebian\n\n{ed}\n\n#cloud-config\npackages: [nginx]\nusers:\n  - default\n  - name: debian\n    groups: [docker]\n',
    'script': f'web-1\ndebian\nm\n{ed}\n\n#!/bin/sh\necho hello > /tmp/x\n',
    'boothook': 'web-1\ndebian\nb\n\n#cloud-boothook\n#!/bin/sh\necho early\n',
    'mime-word': 'web-1\nubuntu\n\n\n#cloud-config\nbootcmd: ["echo mime-version: 1.0"]\n',
    'bad-key': 'web-1\ndebian\n\nssh-ed25519 AAAA\x01x\n\n#cloud-config\n{}\n',
    'none': 'db\nfedora\nmb\n\n',
    'users-map': 'web\ndebian\n\n\n#cloud-config\nusers: {name: debian, shell: /bin/zsh}\nruncmd: [ls]\n',
}
for k, v in ci.items():
    seed('cloudinit', k, v)

# json_body: the first byte also picks a field table (size, key, vm)
bodies = {
    'size': '{"name": "s-tiny", "vcpus": 1, "memory_mib": 512, "disk_gib": 10}',
    'key': json.dumps({"name": "laptop", "public_key": ed}),
    'vm': '{"name": "web-1", "size": "s-1vcpu-1gb", "image": "debian-12-amd64", "ssh_keys": ["laptop"], "user_data": "#cloud-config\\n{}", "path": "/v1/vms/vm-1/actions"}',
    'image': '{"name":"x","url":"https://example.org/a.qcow2","checksum":"sha256:' + 'a' * 64 + '","login_user":"debian"}',
    'dup': '{"name": "a", "name": "b"}',
    'deep': '[' * 50,
    'path': '{"path": "/v1/vms/x/snapshots/y/restore", "kind": "vnc"}',
}
for k, v in bodies.items():
    seed('json_body', k, v)

# manifest
sha = 'ab' * 32
man = {"name": "debian-12-local", "os": "debian", "version": "12", "architecture": "x86_64",
       "format": "qcow2", "file": "disk.qcow2", "sha256": sha, "size": 1234, "virtual_size": 4096,
       "login_user": "debian", "boot": "uefi",
       "kernel": {"file": "vmlinuz", "version": "6.1", "sha256": sha, "cmdline": "console=ttyS0"},
       "initrd": {"file": "initrd.img", "sha256": sha}, "root_uuid": "u", "inputs_hash": "h",
       "built_at": "2026-01-01T00:00:00Z"}
seed('manifest', 'full', json.dumps(man, indent=2))
m2 = dict(man); del m2['kernel']; del m2['initrd']
seed('manifest', 'no-kernel', json.dumps(m2))
m3 = dict(man); m3['file'] = '../etc/passwd'
seed('manifest', 'traversal', json.dumps(m3))
m4 = dict(man); m4['kernel'] = {"file": "vmlinuz", "sha256": "XYZ"}
seed('manifest', 'bad-kernel-sha', json.dumps(m4))
seed('manifest', 'array', '[1,2]')

# console_ticket: vm id, kind, clock, ticket ("S:" = sign the rest)
now = 1767225600000
seed('console_ticket', 'signed', f'vm-3f9a1c2b7d4e5f60\nvnc\n{now}\nS:v1.vm-3f9a1c2b7d4e5f60.vnc.{now + 30000}.' + '0123456789abcdef' * 2)
seed('console_ticket', 'wrong-vm', f'vm-1\nserial\n{now}\nS:v1.vm-2.serial.{now + 30000}.' + 'a' * 32)
seed('console_ticket', 'expired', f'vm-1\nserial\n{now}\nS:v1.vm-1.serial.{now - 1}.' + 'a' * 32)
seed('console_ticket', 'unsigned', f'vm-1\nvnc\n{now}\nv1.vm-1.vnc.{now}.' + 'a' * 32 + '.' + 'b' * 64)
seed('console_ticket', 'extra-field', f'vm-1\nvnc\n{now}\nS:v1.vm-1.vnc.x.{now}.' + 'a' * 32)
seed('console_ticket', 'issue-only', f'vm-abc\nserial\n{now}\n')

# config: file, "%%", flags
seed('config', 'file', '# settings\nlisten = "0.0.0.0:9090"\ndata-dir = /var/lib/cumulus\nconnection-limit = 128\ninsecure-http = yes\n')
seed('config', 'flags', 'listen = 127.0.0.1:1\n%%\n--listen=[::1]:8\n--insecure-http\n--connection-limit\n99999999999\n')
seed('config', 'bad-line', 'no equals sign here\n')
seed('config', 'unknown', 'colour = blue\n%%\n--data-dir\n')

# guest_channel: offset, then the file
ready = {"event": "ready", "boot_id": "b1", "uptime": "41.37", "result": {"v1": {"errors": []}}}
failed = {"event": "ready", "boot_id": "b1", "uptime": "12.5",
          "result": {"v1": {"errors": ["('scripts-user', RuntimeError('x'))", 7]}}}
bake = {"event": "bake", "boot_id": "b", "uptime": "3", "result": None,
        "status": "status: done\n", "log": "line\x01 one\nline two\n" * 10}
seed('guest_channel', 'ready', '0\n' + json.dumps(ready) + '\n')
seed('guest_channel', 'failed', '0\nnoise\n' + json.dumps(failed) + '\n' + json.dumps(ready))
seed('guest_channel', 'bake', '5\nxxxxx' + json.dumps(bake) + '\n')
seed('guest_channel', 'offset-past', '999\n' + json.dumps(ready) + '\n')

# console_routes: clock, browser path, browser ticket, the control plane's answer
t = f'v1.vm-1.vnc.{now + 30000}.' + 'a' * 32 + '.' + 'b' * 64
ans = {"url": f"ws://10.0.0.5:7001/v1/vms/vm-1/vnc?ticket={t}", "ticket": t, "kind": "vnc",
       "expires_at": "2026-01-01T00:00:30Z"}
seed('console_routes', 'vnc', f'{now}\n/console/v1/vms/vm-1/vnc\n{t}\n' + json.dumps(ans))
ans2 = dict(ans); ans2['url'] = f'wss://[fd00::1]:443/v1/vms/vm-1/serial?ticket={t}'
seed('console_routes', 'wss-v6', f'{now}\n/console/v1/vms/vm-1/serial\nnope\n' + json.dumps(ans2))
ans3 = dict(ans); ans3['url'] = 'http://evil:80/x'
seed('console_routes', 'http', f'{now}\n/console/x\n{t}\n' + json.dumps(ans3))
seed('console_routes', 'no-port', f'{now}\n\n\n' + json.dumps({"url": "ws://host/x", "ticket": "t"}))

# qmp: what QEMU sends, greeting first; the client's ids are 1
# (qmp_capabilities), 2 (query-status), 3 (query-block)
greet = '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": ["oob"]}}\n'
seed('qmp', 'session', greet + '{"return": {}, "id": 1}\n'
     '{"event": "RESUME", "timestamp": {"seconds": 1, "microseconds": 2}}\n'
     '{"return": {"status": "running", "singlestep": false, "running": true}, "id": 2}\n'
     '{"return": [{"device": "disk0", "inserted": {"file": "x"}}], "id": 3}\n'
     '{"event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}}\n')
seed('qmp', 'error-reply', greet + '{"return": {}, "id": 1}\r\n'
     '{"error": {"class": "GenericError", "desc": "no such thing"}, "id": 2}\n')
seed('qmp', 'error-no-id', greet + '{"return": {}, "id": 1}\n{"error": {"class": "CommandNotFound", "desc": "x"}}\n')
seed('qmp', 'wrong-id', greet + '{"return": {}, "id": 1}\n{"return": {"status": "paused"}, "id": 7}\n')
seed('qmp', 'long-status', greet + '{"return": {}, "id": 1}\n{"return": {"status": "' + 'x' * 40 + '"}, "id": 2}\n')
seed('qmp', 'not-qmp', 'SSH-2.0-OpenSSH_9.2\n')
seed('qmp', 'events-flood', greet + '{"return": {}, "id": 1}\n' + ''.join(
    '{"event": "E%d"}\n' % i for i in range(70)) + '{"return": {"status": "running"}, "id": 2}\n')

# reports: a heartbeat body of host-a (fuzz/cp_fixture.c's VMs vm-a..vm-d)
def vm(id, state, acc, app, **kw):
    d = {"id": id, "state": state, "accepted_generation": acc, "applied_generation": app,
         "ssh_port": 2200, "progress": 100, "message": "", "error": None, "guest": None}
    d.update(kw)
    return d
hb = {"free_vcpus": 6, "free_memory_mib": 14000, "free_disk_gib": 150,
      "api_url": "http://127.0.0.1:9", "console_url": "ws://127.0.0.1:7001", "vms": []}
def heartbeat(label, vms, **kw):
    d = dict(hb); d['vms'] = vms; d.update(kw)
    seed('reports', label, json.dumps(d))
heartbeat('ready', [vm('vm-a', 'running', 2, 2, guest={"state": "ready", "message": "ok", "boot_seconds": 12, "timed_out": False})])
heartbeat('booting', [vm('vm-a', 'running', 2, 2, guest={"state": "booting", "message": "", "boot_seconds": None, "timed_out": True})])
heartbeat('cloud-init-failed', [vm('vm-a', 'running', 2, 2, guest={"state": "failed", "message": "scripts-user"})])
heartbeat('error', [vm('vm-a', 'error', 2, 2, error={"code": "qemu_failed", "message": "boom"})])
heartbeat('stopped-and-gone', [vm('vm-c', 'stopped', 4, 4)])
heartbeat('unknown-vm', [vm('vm-zzz', 'running', 9, 9), vm('vm-d', 'running', 1, 1)])
heartbeat('empty', [])
heartbeat('moved', [], api_url="https://10.0.0.9:8443", console_url="wss://10.0.0.9:7443")

# api: "METHOD /path", the principal, the body
api = {
    'size-create': ('POST /v1/sizes', 'admin', '{"name": "s-8vcpu-16gb", "vcpus": 8, "memory_mib": 16384, "disk_gib": 320}'),
    'key-create': ('POST /v1/ssh-keys', 'admin', json.dumps({"name": "work", "public_key": keys['ecdsa256']})),
    'key-dup': ('POST /v1/ssh-keys', 'admin', json.dumps({"name": "laptop", "public_key": keys['ed25519']})),
    'image-create': ('POST /v1/images', 'admin', json.dumps({"name": "my-image", "os": "debian", "version": "12",
        "architecture": "x86_64", "url": "https://example.org/d.qcow2", "checksum": "sha256:" + "a" * 64,
        "format": "qcow2", "login_user": "debian", "boot": "uefi"})),
    'vm-create': ('POST /v1/vms', 'admin', json.dumps({"name": "new-1", "size": "s-1vcpu-1gb", "image": "debian-12-amd64",
        "ssh_keys": ["laptop"], "user_data": "#cloud-config\npackages: [htop]\n"})),
    'vm-create-script': ('POST /v1/vms', 'admin', json.dumps({"name": "new-2", "size": "s-1vcpu-1gb", "image": "debian-12-amd64",
        "user_data": "#!/bin/sh\necho hi\n"})),
    'vm-get': ('GET /v1/vms/web-a', 'admin', ''),
    'vm-cloud-init': ('GET /v1/vms/vm-a/cloud-init', 'admin', ''),
    'vm-stop': ('POST /v1/vms/web-a/actions', 'admin', '{"type": "stop", "mode": "force"}'),
    'vm-start': ('POST /v1/vms/web-c/actions', 'admin', '{"type": "start"}'),
    'vm-reboot': ('POST /v1/vms/vm-a/actions', 'admin', '{"type": "reboot"}'),
    'vm-delete': ('DELETE /v1/vms/web-a', 'admin', ''),
    'vm-console': ('POST /v1/vms/vm-a/console', 'admin', '{"kind": "vnc"}'),
    'snapshot-create': ('POST /v1/vms/vm-a/snapshots', 'admin', '{"name": "s2", "memory": true}'),
    'snapshot-restore': ('POST /v1/vms/vm-a/snapshots/before/restore', 'admin', ''),
    'snapshot-image': ('POST /v1/snapshots/snap-a/image', 'admin', '{"name": "from-snap"}'),
    'snapshot-delete': ('DELETE /v1/vms/vm-a/snapshots/before', 'admin', ''),
    'host-drain': ('POST /v1/hosts/host-a/actions', 'admin', '{"type": "drain"}'),
    'host-join': ('POST /v1/hosts/join', 'join', json.dumps({"name": "host-b", "address": "10.0.0.2",
        "architecture": "x86_64", "vcpus": 4, "memory_mib": 8192, "disk_gib": 100, "api_url": "http://10.0.0.2:8081"})),
    'heartbeat': ('POST /v1/hosts/host-a/heartbeat', 'host-a', json.dumps(dict(hb, vms=[vm('vm-a', 'running', 2, 2)]))),
    'bake': ('POST /v1/images/bake', 'admin', json.dumps({"name": "baked", "image": "debian-12-amd64", "size": "s-1vcpu-1gb",
        "user_data": "#cloud-config\npackages: [git]\n"})),
    'op-get': ('GET /v1/operations/op-a', 'admin', ''),
    'size-delete': ('DELETE /v1/sizes/s-1vcpu-1gb', 'admin', ''),
    'image-delete': ('DELETE /v1/images/debian-12-amd64', 'admin', ''),
}
for k, (a, b, c) in api.items():
    seed('api', k, f'{a}\n{b}\n{c}')

# query: the target of a GET (path and query string)
for k, v in {
    'vms-page': '/v1/vms?limit=2&after=1',
    'vms-filter': '/v1/vms?state=running&host=host-a',
    'ops': '/v1/operations?status=running&target=vm-a&limit=1000',
    'events': '/v1/events?type=vm.&target=vm-a&after=0&limit=3',
    'events-follow': '/v1/events?follow=true',
    'bad-limit': '/v1/sizes?limit=0',
    'huge-after': '/v1/images?after=99999999999999999999999',
    'escaped': '/v1/hosts?limit=%31%30&x=%00',
    'snapshots': '/v1/vms/vm-a/snapshots?limit=1',
    'runs': '/v1/runs?state=running',
    'keys': '/v1/ssh-keys?after=-1',
    'vm-get': '/v1/vms/web-a?x=1',
    'health': '/v1/health',
    'repeat': '/v1/vms?limit=1&limit=2&state=&host',
}.items():
    seed('query', k, v + '\n')
