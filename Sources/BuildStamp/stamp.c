#include "BuildStamp.h"

/* A packaged build (make deb) writes build-stamp.h defining both; a development
   build says so instead of pretending to be a release. */
#if __has_include("build-stamp.h")
#include "build-stamp.h"
#endif

#ifndef RECSTORE_VERSION
#define RECSTORE_VERSION "0.0.0+dev"
#endif
#ifndef RECSTORE_COMMIT
#define RECSTORE_COMMIT "unknown"
#endif

const char *recstore_build_version(void) { return RECSTORE_VERSION; }
const char *recstore_build_commit(void) { return RECSTORE_COMMIT; }
