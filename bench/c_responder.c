/* The ceiling for benchmarks: the FastCGI path with zero application work.
 *
 *   c_responder SOCKET WORKERS reply FILE   answer every request with FILE's bytes (as JSON)
 *   c_responder SOCKET WORKERS upload DIR   write each request body to a file in DIR, answer 201
 *
 * WORKERS processes, forked after the socket is open (before any thread exists),
 * each accepting sequentially, the same shape as the recstore pool.
 */
#include <fcgiapp.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *reply;
static long reply_len;

static void serve(int sock, const char *mode, const char *arg) {
    FCGX_Request req;
    FCGX_InitRequest(&req, sock, 0);
    char buf[65536];
    char path[4096];
    unsigned long n = 0;
    while (FCGX_Accept_r(&req) == 0) {
        if (strcmp(mode, "reply") == 0) {
            while (FCGX_GetStr(buf, sizeof buf, req.in) > 0) {}
            char head[256];
            int h = snprintf(head, sizeof head,
                             "Status: 200 OK\r\nContent-Type: application/json\r\nContent-Length: %ld\r\n\r\n", reply_len);
            FCGX_PutStr(head, h, req.out);
            FCGX_PutStr(reply, (int)reply_len, req.out);
        } else {
            snprintf(path, sizeof path, "%s/upload-%d-%lu", arg, (int)getpid(), n++);
            int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            long total = 0;
            int got;
            while ((got = FCGX_GetStr(buf, sizeof buf, req.in)) > 0) {
                if (fd >= 0 && write(fd, buf, got) != got) { close(fd); fd = -1; }
                total += got;
            }
            if (fd >= 0) { fsync(fd); close(fd); }
            unlink(path);
            char out[256];
            int b = snprintf(out, sizeof out, "{\"bytes\":%ld}", total);
            char head[256];
            int h = snprintf(head, sizeof head,
                             "Status: 201 Created\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", b);
            FCGX_PutStr(head, h, req.out);
            FCGX_PutStr(out, b, req.out);
        }
        FCGX_Finish_r(&req);
    }
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: %s SOCKET WORKERS reply FILE | upload DIR\n", argv[0]); return 2; }
    const char *mode = argv[3];
    if (strcmp(mode, "reply") == 0) {
        FILE *f = fopen(argv[4], "rb");
        if (!f) { perror(argv[4]); return 1; }
        fseek(f, 0, SEEK_END); reply_len = ftell(f); fseek(f, 0, SEEK_SET);
        reply = malloc(reply_len + 1);
        if (fread(reply, 1, reply_len, f) != (size_t)reply_len) { perror("read"); return 1; }
        fclose(f);
    }
    FCGX_Init();
    unlink(argv[1]);
    int sock = FCGX_OpenSocket(argv[1], 1024);
    if (sock < 0) { perror("FCGX_OpenSocket"); return 1; }
    chmod(argv[1], 0666);
    int workers = atoi(argv[2]);
    for (int i = 0; i < workers; i++) {
        if (fork() == 0) { serve(sock, mode, argv[4]); _exit(0); }
    }
    /* Stopped by signalling the whole process group. */
    while (wait(NULL) > 0) {}
    return 0;
}
