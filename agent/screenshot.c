/* screenshot.c: see screenshot.h. */
#define _GNU_SOURCE
#include "screenshot.h"

#include <errno.h>
#include <limits.h>
#include <png.h>
#include <pthread.h>
#include <rfb/rfbclient.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "vm_proc.h"

static void quiet_log(const char *format, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, format);
    vsnprintf(line, sizeof(line), format, ap);
    va_end(ap);
    line[strcspn(line, "\n")] = '\0';
    log_debug("screenshot (libvncclient): %s", line);
}

static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void route_logs(void)
{
    rfbClientLog = quiet_log;
    rfbClientErr = quiet_log;
}

static const int got_tag; /* rfbClientSetClientData key: its address */

static void frame_done(rfbClient *cl)
{
    *(int *)rfbClientGetClientData(cl, (void *)&got_tag) = 1;
}

/* rfbClientCleanup leaves the framebuffer (libvncclient's MallocFrameBuffer
 * made it) to the application. */
static void release(rfbClient *cl)
{
    free(cl->frameBuffer);
    cl->frameBuffer = NULL;
    rfbClientCleanup(cl);
}

/* One full framebuffer: the client, its frameBuffer filled (RGBX), or NULL. */
static rfbClient *grab(const char *sock, int *got, cu_error **err)
{
    rfbClient *cl = rfbGetClient(8, 3, 4);
    if (cl == NULL)
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "libvncclient: out of memory"), NULL;
    free(cl->serverHost); /* rfbGetClient's "" */
    cl->serverHost = strdup(sock); /* a path: libvncclient connects to the unix socket */
    cl->serverPort = 0;
    cl->appData.shareDesktop = TRUE;
    cl->connectTimeout = SCREENSHOT_TIMEOUT_S;
    cl->readTimeout = SCREENSHOT_TIMEOUT_S;
    cl->FinishedFrameBufferUpdate = frame_done;
    rfbClientSetClientData(cl, (void *)&got_tag, got);
    if (!rfbInitClient(cl, NULL, NULL)) /* it freed cl */
        return cu_error_set(err, 409, CU_E_CONFLICT, NULL,
                            "the VM's screen takes no connection: is it running?"),
               NULL;
    /* rfbInitClient asked for the whole screen; wait for it. */
    time_t deadline = time(NULL) + SCREENSHOT_TIMEOUT_S;
    while (!*got && time(NULL) < deadline) {
        int n = WaitForMessage(cl, 200000);
        if (n < 0 || (n > 0 && !HandleRFBServerMessage(cl))) {
            release(cl);
            return cu_error_set(err, 500, CU_E_INTERNAL, NULL,
                                "the VM's VNC server closed the connection"),
                   NULL;
        }
    }
    if (!*got) {
        release(cl);
        return cu_error_set(err, 504, "screenshot_timeout", NULL,
                            "no picture from the VM's screen within %d s", SCREENSHOT_TIMEOUT_S),
               NULL;
    }
    return cl;
}

/* RGB rows of the framebuffer scaled to w x h (box filter). */
static unsigned char *scale(const rfbClient *cl, int w, int h)
{
    unsigned char *out = malloc((size_t)w * h * 3);
    if (out == NULL)
        abort();
    const unsigned char *fb = cl->frameBuffer;
    for (int y = 0; y < h; y++) {
        int y0 = y * cl->height / h, y1 = (y + 1) * cl->height / h;
        for (int x = 0; x < w; x++) {
            int x0 = x * cl->width / w, x1 = (x + 1) * cl->width / w;
            unsigned long sum[3] = {0, 0, 0}, n = 0;
            for (int sy = y0; sy < (y1 > y0 ? y1 : y0 + 1); sy++)
                for (int sx = x0; sx < (x1 > x0 ? x1 : x0 + 1); sx++, n++)
                    for (int c = 0; c < 3; c++)
                        sum[c] += fb[((size_t)sy * cl->width + sx) * 4 + c];
            for (int c = 0; c < 3; c++)
                out[((size_t)y * w + x) * 3 + c] = (unsigned char)(sum[c] / n);
        }
    }
    return out;
}

static int write_png(FILE *f, const unsigned char *rgb, int w, int h, cu_error **err)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (info == NULL || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return cu_error_set(err, 500, CU_E_INTERNAL, NULL, "libpng could not write the picture");
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, rgb + (size_t)y * w * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int screenshot_take(const agent *a, const char *vm_id, int max_width, int *fd, long long *size,
                    cu_error **err)
{
    pthread_once(&log_once, route_logs);
    char sock[PATH_MAX];
    vm_path(a, vm_id, "vnc.sock", sock, sizeof(sock));
    if (access(sock, F_OK) < 0)
        return cu_error_set(err, 409, CU_E_CONFLICT, NULL,
                            "VM %s has no screen now: it is not running", vm_id);
    int got = 0;
    rfbClient *cl = grab(sock, &got, err);
    if (cl == NULL)
        return -1;
    int w = max_width > 0 && max_width < cl->width ? max_width : cl->width;
    int h = (int)((long long)cl->height * w / cl->width);
    _cleanup_free_ unsigned char *rgb = scale(cl, w, h > 0 ? h : 1);
    release(cl);
    *fd = memfd_create("screenshot.png", MFD_CLOEXEC);
    FILE *f = *fd >= 0 ? fdopen(dup(*fd), "w") : NULL;
    int rc = f ? write_png(f, rgb, w, h > 0 ? h : 1, err)
               : cu_error_errno(err, errno, "cannot make a file for the picture");
    if (f && fclose(f) != 0 && rc == 0)
        rc = cu_error_errno(err, errno, "cannot write the picture");
    struct stat st;
    if (rc == 0 && (fstat(*fd, &st) < 0 || lseek(*fd, 0, SEEK_SET) < 0))
        rc = cu_error_errno(err, errno, "cannot read the picture back");
    if (rc < 0) {
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        return -1;
    }
    *size = st.st_size;
    return 0;
}
