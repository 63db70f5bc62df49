/* tcg-count: a QEMU TCG plugin for `scripts/bench.sh --count`. It counts how often each vCPU
 * runs each translation block of the guest kernel, and so its instructions, exactly (perf under
 * TCG samples a thousand times a vCPU and round; this counts every instruction). The guest marks
 * each measurement on its result channel ("BENCH-WINDOW begin ..." and "BENCH-WINDOW end ...");
 * the plugin watches that file and, for each window, writes the blocks run in it to
 * OUT/window-NNN.txt:
 *   # BEGIN-LINE
 *   # END-LINE
 *   ADDRESS LENGTH RUNS-VCPU0 RUNS-VCPU1 ...
 * (ADDRESS: the block's start, hex, less 0xffffffff00000000; LENGTH: its instructions; RUNS: how
 * often each vCPU executed it. A function's entry block run N times is N calls.)
 * Arguments: watch=FILE out=DIR. QEMU's plugin API (version 1, QEMU 7.2) is declared here:
 * Debian ships no header for it. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define MAX_VCPUS 8
#define KERNEL_TEXT 0xffffffff00000000ull

/* One translation of a block; a block translated again gets another (the report sums them). */
struct block {
    uint64_t vaddr;
    uint64_t insns;
    /* Each written only by its own vCPU's thread (multi-threaded TCG); read racily by the
     * watcher, which a profile can afford. */
    volatile uint64_t runs[MAX_VCPUS];
    uint64_t runs_at_begin[MAX_VCPUS];
};

static struct block **blocks;
static size_t nblocks, capacity;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *watch, *out;
static char begin_line[1024];
static bool in_window;
static int windows;

static void executed(unsigned int vcpu, void *udata)
{
    struct block *b = udata;
    if (vcpu < MAX_VCPUS)
        b->runs[vcpu]++;
}

static void translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    uint64_t vaddr = qemu_plugin_tb_vaddr(tb);
    (void)id;
    if (vaddr < KERNEL_TEXT)
        return; /* user space and the direct map: not the kernel's code */
    struct block *b = calloc(1, sizeof(*b));
    if (!b)
        return;
    b->vaddr = vaddr;
    b->insns = qemu_plugin_tb_n_insns(tb);
    pthread_mutex_lock(&lock);
    if (nblocks == capacity) {
        size_t more = capacity ? capacity * 2 : 65536;
        struct block **grown = realloc(blocks, more * sizeof(*blocks));
        if (!grown) {
            pthread_mutex_unlock(&lock);
            free(b);
            return;
        }
        blocks = grown;
        capacity = more;
    }
    blocks[nblocks++] = b;
    pthread_mutex_unlock(&lock);
    qemu_plugin_register_vcpu_tb_exec_cb(tb, executed, QEMU_PLUGIN_CB_NO_REGS, b);
}

static void window_begins(const char *line)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nblocks; i++)
        for (int v = 0; v < MAX_VCPUS; v++)
            blocks[i]->runs_at_begin[v] = blocks[i]->runs[v];
    pthread_mutex_unlock(&lock);
    snprintf(begin_line, sizeof(begin_line), "%s", line);
    in_window = true;
}

static void window_ends(const char *line)
{
    char path[4096];
    if (!in_window)
        return;
    in_window = false;
    snprintf(path, sizeof(path), "%s/window-%03d.txt", out, windows++);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f, "# %s# %s", begin_line, line);
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nblocks; i++) {
        struct block *b = blocks[i];
        uint64_t delta[MAX_VCPUS], any = 0;
        for (int v = 0; v < MAX_VCPUS; v++) {
            /* a block translated during the window started from zero */
            delta[v] = b->runs[v] - b->runs_at_begin[v];
            any |= delta[v];
        }
        if (!any)
            continue;
        fprintf(f, "%llx %llu", (unsigned long long)(b->vaddr - KERNEL_TEXT), (unsigned long long)b->insns);
        for (int v = 0; v < MAX_VCPUS; v++)
            fprintf(f, " %llu", (unsigned long long)delta[v]);
        fputc('\n', f);
    }
    pthread_mutex_unlock(&lock);
    fclose(f);
}

/* Follows the result channel as QEMU writes it; each whole line is read once. */
static void *watcher(void *arg)
{
    long position = 0;
    char *line = NULL;
    size_t size = 0;
    ssize_t n;
    (void)arg;
    for (;;) {
        usleep(20000);
        FILE *f = fopen(watch, "r");
        if (!f)
            continue;
        if (fseek(f, 0, SEEK_END) == 0 && ftell(f) < position)
            position = 0; /* the file was truncated: a new boot */
        fseek(f, position, SEEK_SET);
        /* (lines of any length: the guest writes some of several kilobytes) */
        while ((n = getline(&line, &size, f)) > 0) {
            if (line[n - 1] != '\n')
                break; /* partly written: read it whole next time */
            position += n;
            if (strncmp(line, "BENCH-WINDOW begin ", 19) == 0)
                window_begins(line);
            else if (strncmp(line, "BENCH-WINDOW end ", 17) == 0)
                window_ends(line);
        }
        fclose(f);
    }
    return NULL;
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv)
{
    pthread_t thread;
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "watch=", 6) == 0)
            watch = strdup(argv[i] + 6);
        else if (strncmp(argv[i], "out=", 4) == 0)
            out = strdup(argv[i] + 4);
    }
    if (!watch || !out)
        return -1;
    qemu_plugin_register_vcpu_tb_trans_cb(id, translated);
    return pthread_create(&thread, NULL, watcher, NULL) == 0 ? 0 : -1;
}
