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
 * coreutils and cloud-init: nothing to install, no network. */
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
