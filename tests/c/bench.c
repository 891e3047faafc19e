/* The C side of `make bench-c`: the loops of ffi/examples/boundary_bench.rs, through the C API.
 * Usage: bench URL SLOT_ROUNDS CALLS; prints `slot_ns_per_key X` and `get_us_per_call Y`
 * (best of 5 rounds each). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slotshift.h"

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench URL [SLOT_ROUNDS] [CALLS]\n");
        return 2;
    }
    size_t rounds = argc > 2 ? strtoul(argv[2], NULL, 10) : 2000;
    size_t calls = argc > 3 ? strtoul(argv[3], NULL, 10) : 20000;
    enum { NKEYS = 1024 };
    static char keys[NKEYS][40];
    static size_t lens[NKEYS];
    for (int i = 0; i < NKEYS; i++) {
        snprintf(keys[i], sizeof keys[i], "bench:user:%d:profile", i);
        lens[i] = strlen(keys[i]);
    }
    volatile unsigned long sink = 0;
    double best_slot = 1e300;
    for (int r = 0; r < 5; r++) {
        double t = now_ns();
        for (size_t k = 0; k < rounds; k++)
            for (int i = 0; i < NKEYS; i++) sink += slotshift_key_slot((const uint8_t *)keys[i], lens[i]);
        double ns = (now_ns() - t) / ((double)rounds * NKEYS);
        if (ns < best_slot) best_slot = ns;
    }

    slotshift_client *c = NULL;
    slotshift_error *err = NULL;
    if (slotshift_client_new(argv[1], &c, &err) != SLOTSHIFT_RESULT_OK) {
        fprintf(stderr, "connect: %s\n", slotshift_error_message(err));
        slotshift_error_free(err);
        return 1;
    }
    const uint8_t *set_argv[3] = {(const uint8_t *)"SET", (const uint8_t *)"bench:get", (const uint8_t *)"value"};
    size_t set_lens[3] = {3, 9, 5};
    slotshift_reply *reply = NULL;
    if (slotshift_client_call(c, set_argv, set_lens, 3, &reply, NULL) != SLOTSHIFT_RESULT_OK) return 1;
    slotshift_reply_free(reply);
    const uint8_t *get_argv[2] = {(const uint8_t *)"GET", (const uint8_t *)"bench:get"};
    size_t get_lens[2] = {3, 9};
    double best_get = 1e300;
    for (int r = 0; r < 5; r++) {
        double t = now_ns();
        for (size_t k = 0; k < calls; k++) {
            if (slotshift_client_call(c, get_argv, get_lens, 2, &reply, NULL) != SLOTSHIFT_RESULT_OK) return 1;
            const uint8_t *p;
            size_t n;
            if (slotshift_reply_bytes(reply, &p, &n) == SLOTSHIFT_RESULT_OK) sink += n;
            slotshift_reply_free(reply);
        }
        double us = (now_ns() - t) / 1000.0 / (double)calls;
        if (us < best_get) best_get = us;
    }
    slotshift_client_free(c);
    printf("slot_ns_per_key %.3f\n", best_slot);
    printf("get_us_per_call %.3f\n", best_get);
    fprintf(stderr, "(checksum %lu)\n", (unsigned long)sink);
    return 0;
}
