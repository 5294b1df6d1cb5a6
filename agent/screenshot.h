/* screenshot.h: a PNG of a VM's screen, for dashboard thumbnails.
 *
 * Taken as any viewer would see it: libvncclient (libvncserver's client
 * library) connects to the VM's VNC unix socket as a shared viewer, asks
 * for one full framebuffer update in 32-bit true colour, and the picture
 * is scaled down (box filter) to at most `max_width` pixels wide and
 * written as an RGB PNG with libpng.  Other viewers are not disturbed
 * (QEMU's share=force-shared). */
#ifndef CUMULUS_AGENT_SCREENSHOT_H
#define CUMULUS_AGENT_SCREENSHOT_H

#include "agent.h"
#include "error.h"

#define SCREENSHOT_TIMEOUT_S 10

/* The PNG in an anonymous file: *fd (positioned at 0, the caller closes
 * it) and *size.  max_width 0: full size.  Errors: 409 when the VM's VNC
 * socket takes no connection (not running), 504 when no picture came in
 * SCREENSHOT_TIMEOUT_S, 500 otherwise. */
int screenshot_take(const agent *a, const char *vm_id, int max_width, int *fd, long long *size,
                    cu_error **err);

#endif
