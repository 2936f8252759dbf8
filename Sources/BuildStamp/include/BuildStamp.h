#ifndef RECSTORE_BUILD_STAMP_H
#define RECSTORE_BUILD_STAMP_H

/* What `recstore --version` reports: the package version and the git commit the
   binary was built from. Plain C so a build can provide them without touching any
   Swift source: scripts/build-deb writes build-stamp.h (gitignored) next to stamp.c. */
const char *recstore_build_version(void);
const char *recstore_build_commit(void);

#endif
