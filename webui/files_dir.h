/* files_dir.h: where the dashboard's files are when --static-dir is not
 * given.  Found beside the running binary first, so that the build tree's
 * binary serves the build's files and an installed one the installed files,
 * wherever the tree was installed, staged (DESTDIR) or moved. */
#ifndef CUMULUS_WEBUI_FILES_DIR_H
#define CUMULUS_WEBUI_FILES_DIR_H

/* The first directory of: BINDIR/../share/cumulus/webui (the build tree's
 * layout and the usual installed one), BINDIR/<the install's bin-to-data
 * path> (a custom layout), the install prefix's data directory compiled in
 * (CUMULUS_WEBUI_INSTALLED_FILES_DIR); that last one when none is, so the
 * error names where the files were expected.  Never NULL; free() it. */
char *webui_files_dir_default(void);

#endif
