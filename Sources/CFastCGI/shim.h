#ifndef RECSTORE_CFASTCGI_SHIM_H
#define RECSTORE_CFASTCGI_SHIM_H
#include <fcgiapp.h>
#include <fcgios.h>
/* epoll, for the workers' wait for connections (Glibc's Swift module leaves it out). */
#include <sys/epoll.h>
#endif
