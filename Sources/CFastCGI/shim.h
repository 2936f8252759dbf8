#ifndef RECSTORE_CFASTCGI_SHIM_H
#define RECSTORE_CFASTCGI_SHIM_H
#include <fcgiapp.h>
#include <fcgios.h>
#endif
