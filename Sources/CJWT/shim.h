#ifndef RECSTORE_CJWT_SHIM_H
#define RECSTORE_CJWT_SHIM_H
#include <jwt.h>
#endif
