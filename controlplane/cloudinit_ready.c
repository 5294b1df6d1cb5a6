/* cloudinit_ready.c: the part of every VM's cloud-config that tells the
 * host when cloud-init has finished (the agent's side is
 * agent/guest_channel.h).
 *
 * write_files installs a script and a systemd unit; runcmd enables the
 * unit (ours come before the user's: see cloudinit_render_user_data).  The unit is ordered after cloud-final.service and wanted by
 * cloud-init.target (cloud-final is After=multi-user.target on Debian and
 * Ubuntu, so multi-user.target would make an ordering cycle), so it runs on
 * every boot once cloud-init is done, first boot included: `systemctl
 * enable --now --no-block` from runcmd queues it behind the cloud-final
 * job that is running the runcmd itself.
 *
 * The script writes one JSON line to the virtio-serial port
 * org.cumulus.guest.0: the boot id, the uptime and cloud-init's own
 * result.json (whose v1.errors lists what failed).  It needs only sh,
 * coreutils and cloud-init: nothing to install, no network.
 *
 * A bake (a VM whose disk becomes an image once cloud-init has finished)
 * gets another reporter instead: cloud-init's own power_state powers the
 * guest off after its first boot, and its `condition` command, which
 * cloud-init runs once the final stage's process has exited (so
 * result.json is written), is our script: it writes one "bake" line with
 * result.json, `cloud-init status --long` and the end of
 * cloud-init-output.log, then exits 0 so that the power-off goes ahead,
 * whatever cloud-init's result.  A unit ordered after cloud-final would
 * race the power-off; the condition cannot.  It is Python, as cloud-init
 * is, to write JSON without tools the image may lack. */
#define _GNU_SOURCE
#include <stdlib.h>

#include "cloudinit.h"

#define REPORT_PATH "/usr/local/lib/cumulus/report-ready"
#define UNIT_NAME "cumulus-ready.service"

static const char report_script[] =
    "#!/bin/sh\n"
    "# Installed by Cumulus: tells the host that cloud-init has finished this\n"
    "# boot, through the virtio-serial port the host reads. Runs every boot.\n"
    "# Ordered after cloud-final.service, so cloud-init is done: result.json\n"
    "# is what it says (no `cloud-init status --wait`: seconds of Python\n"
    "# start-up on a slow guest).\n"
    "port=/dev/virtio-ports/org.cumulus.guest.0\n"
    "i=0\n"
    "while [ ! -e \"$port\" ] && [ \"$i\" -lt 30 ]; do sleep 1; i=$((i + 1)); done\n"
    "if [ ! -e \"$port\" ]; then\n"
    "    echo \"cumulus: no $port: the host cannot see that this VM is ready\" >&2\n"
    "    exit 0\n"
    "fi\n"
    "result=$(tr -d '\\n' </run/cloud-init/result.json 2>/dev/null)\n"
    "[ -n \"$result\" ] ||\n"
    "    result='{\"v1\":{\"errors\":[\"cloud-init left no result.json: it did not finish\"]}}'\n"
    "printf '{\"event\":\"ready\",\"boot_id\":\"%s\",\"uptime\":\"%s\",\"result\":%s}\\n' \\\n"
    "    \"$(cat /proc/sys/kernel/random/boot_id)\" \"$(cut -d' ' -f1 /proc/uptime)\" \\\n"
    "    \"$result\" >\"$port\"\n";

static const char unit[] = "[Unit]\n"
                           "Description=Tell the Cumulus host that cloud-init has finished\n"
                           "After=cloud-final.service\n"
                           "\n"
                           "[Service]\n"
                           "Type=oneshot\n"
                           "ExecStart=" REPORT_PATH "\n"
                           "\n"
                           "[Install]\n"
                           "WantedBy=cloud-init.target\n";

#define BAKE_REPORT_PATH "/usr/local/lib/cumulus/report-baked"

static const char bake_script[] =
    "#!/usr/bin/python3\n"
    "# Installed by Cumulus for a bake: cloud-init's power_state runs this once\n"
    "# cloud-init has finished, just before it powers the VM off. It tells the\n"
    "# host how cloud-init did (the host then makes the disk into an image),\n"
    "# and always exits 0 so that the power-off goes ahead.\n"
    "import json, os, subprocess, time\n"
    "PORT = '/dev/virtio-ports/org.cumulus.guest.0'\n"
    "def tail(path, limit=4096):\n"
    "    try:\n"
    "        with open(path, 'rb') as f:\n"
    "            f.seek(0, os.SEEK_END)\n"
    "            f.seek(max(0, f.tell() - limit))\n"
    "            return f.read().decode('utf-8', 'replace')\n"
    "    except OSError as e:\n"
    "        return '(%s)' % e\n"
    "def status():\n"
    "    try:\n"
    "        p = subprocess.run(['cloud-init', 'status', '--long'], stdout=subprocess.PIPE,\n"
    "                           stderr=subprocess.STDOUT, timeout=300)\n"
    "        return p.stdout.decode('utf-8', 'replace')\n"
    "    except Exception as e:\n"
    "        return '(cloud-init status: %s)' % e\n"
    "try:\n"
    "    with open('/run/cloud-init/result.json') as f:\n"
    "        result = json.load(f)\n"
    "except Exception:\n"
    "    result = {'v1': {'errors': ['cloud-init left no result.json: it did not finish']}}\n"
    "with open('/proc/sys/kernel/random/boot_id') as f:\n"
    "    boot_id = f.read().strip()\n"
    "with open('/proc/uptime') as f:\n"
    "    uptime = f.read().split()[0]\n"
    "line = json.dumps({'event': 'bake', 'boot_id': boot_id, 'uptime': uptime, 'result': result,\n"
    "                   'status': status(), 'log': tail('/var/log/cloud-init-output.log')})\n"
    "for _ in range(30):\n"
    "    if os.path.exists(PORT):\n"
    "        break\n"
    "    time.sleep(1)\n"
    "try:\n"
    "    with open(PORT, 'w') as f:\n"
    "        f.write(line + '\\n')\n"
    "except OSError as e:\n"
    "    print('cumulus: cannot tell the host: %s' % e)\n";

json_t *cloudinit_bake_config(void)
{
    json_t *c = json_pack("{s:[{s:s, s:s, s:s}], s:{s:s, s:s, s:[s], s:i}}", "write_files", "path",
                          BAKE_REPORT_PATH, "permissions", "0755", "content", bake_script,
                          "power_state", "mode", "poweroff", "message",
                          "Cumulus: cloud-init has finished; powering off to make the image",
                          "condition", BAKE_REPORT_PATH, "timeout", 600);
    if (c == NULL)
        abort();
    return c;
}

json_t *cloudinit_ready_config(void)
{
    json_t *c = json_pack("{s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}], s:[[s, s, s, s, s]]}",
                          "write_files", "path", REPORT_PATH, "permissions", "0755", "content",
                          report_script, "path", "/etc/systemd/system/" UNIT_NAME, "permissions",
                          "0644", "content", unit, "runcmd", "systemctl", "enable", "--now",
                          "--no-block", UNIT_NAME);
    if (c == NULL)
        abort();
    return c;
}
