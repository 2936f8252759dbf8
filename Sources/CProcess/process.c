#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/prctl.h>
#include "CProcess.h"

int rs_set_process_name(const char *name) { return prctl(PR_SET_NAME, name, 0, 0, 0); }

int rs_memfd_create(const char *name) { return memfd_create(name, MFD_CLOEXEC); }
