/* The C suite of slotshift: only the header and the built library, against real servers from
 * `slotshift servers up` (tests/c/run.sh starts them and passes their URLs in the environment):
 *
 *   SLOTSHIFT_TEST_STANDALONE  redis://127.0.0.1:PORT
 *   SLOTSHIFT_TEST_STANDALONE2 a second standalone (the MultiStore's secondary)
 *   SLOTSHIFT_TEST_CLUSTER     the cluster's seed URLs, comma-separated
 *   SLOTSHIFT_TEST_SENTINEL    redis+sentinel://HOST:PORT,…/MASTER
 *   SLOTSHIFT_FIXTURES         the tests/fixtures directory
 *   SLOTSHIFT_CARGO_VERSION    the version in the workspace Cargo.toml
 *
 * A missing variable is a failure, never a skip. */
#define _POSIX_C_SOURCE 200809L
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <unistd.h>

#include "check.h"

int check_count = 0;
int check_failures = 0;

/* double_include.c: a translation unit that includes the header twice. */
int double_include_slot(void);

static const char *env(const char *name) {
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') {
        fprintf(stderr, "missing environment variable %s (run tests/c/run.sh)\n", name);
        exit(2);
    }
    return v;
}

static char *read_file(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The JSON string value after `"field":` at or after `from`; copied into out. Returns a pointer
 * past the value, or NULL when the field does not occur again. Enough for our fixtures (no
 * escapes in the fields read). */
static const char *json_string(const char *from, const char *field, char *out, size_t cap) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", field);
    const char *p = strstr(from, pat);
    if (p == NULL) return NULL;
    p = strchr(p + strlen(pat), '"');
    if (p == NULL) return NULL;
    p++;
    const char *end = strchr(p, '"');
    if (end == NULL || (size_t)(end - p) >= cap) return NULL;
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return end + 1;
}

static const char *json_number(const char *from, const char *field, long *out) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", field);
    const char *p = strstr(from, pat);
    if (p == NULL) return NULL;
    p = strchr(p + strlen(pat), ':');
    if (p == NULL) return NULL;
    char *end;
    *out = strtol(p + 1, &end, 10);
    return end;
}

static size_t unhex(const char *hex, uint8_t *out) {
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* Sends a command of NUL-terminated text arguments (NULL-terminated list). */
static slotshift_result call(const slotshift_client *c, slotshift_reply **out, slotshift_error **err,
                             ...) {
    const uint8_t *argv[16];
    size_t lens[16];
    size_t argc = 0;
    va_list ap;
    va_start(ap, err);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 16) {
        argv[argc] = (const uint8_t *)a;
        lens[argc] = strlen(a);
        argc++;
    }
    va_end(ap);
    return slotshift_client_call(c, argv, lens, argc, out, err);
}

/* Whether `len` bytes at `p` contain the text `needle`. */
static bool bytes_contain(const uint8_t *p, size_t len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; p != NULL && i + n <= len; i++) {
        if (memcmp(p + i, needle, n) == 0) return true;
    }
    return false;
}

static bool bytes_are(const slotshift_reply *r, const void *want, size_t want_len) {
    const uint8_t *p = NULL;
    size_t n = 0;
    if (slotshift_reply_bytes(r, &p, &n) != SLOTSHIFT_RESULT_OK) return false;
    return n == want_len && memcmp(p, want, n) == 0;
}

static void clear_error(slotshift_error **err) {
    slotshift_error_free(*err);
    *err = NULL;
}

/* ------------------------------------------------------------------------------------------ */

static void test_version(void) {
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", SLOTSHIFT_VERSION_MAJOR, SLOTSHIFT_VERSION_MINOR,
             SLOTSHIFT_VERSION_PATCH);
    CHECK(strcmp(slotshift_version(), want) == 0);
    CHECK(strcmp(slotshift_version(), env("SLOTSHIFT_CARGO_VERSION")) == 0);
    CHECK(SLOTSHIFT_VERSION_NUMBER ==
          ((SLOTSHIFT_VERSION_MAJOR << 16) | (SLOTSHIFT_VERSION_MINOR << 8) | SLOTSHIFT_VERSION_PATCH));
}

static void test_result_messages(void) {
    uint8_t buf[256];
    size_t n = 12345;
    CHECK_OK(slotshift_result_message(SLOTSHIFT_RESULT_SERVER_WRONGTYPE, buf, sizeof buf, &n), NULL);
    CHECK(n > 0 && memcmp(buf, "WRONGTYPE", 9) == 0);
    size_t need = 0;
    CHECK_OK(slotshift_result_message(SLOTSHIFT_RESULT_PANIC, NULL, 0, &need), NULL);
    CHECK(need > 10);
    size_t untouched = 777;
    CHECK_RESULT(slotshift_result_message(SLOTSHIFT_RESULT_PANIC, buf, need - 1, &untouched),
                 SLOTSHIFT_RESULT_BUFFER_TOO_SMALL, NULL);
    CHECK(untouched == 777);
    CHECK_RESULT(slotshift_result_message(SLOTSHIFT_RESULT_PANIC, buf, sizeof buf, NULL),
                 SLOTSHIFT_RESULT_NULL_PARAMETER, NULL);
    CHECK_OK(slotshift_result_message(424242, buf, sizeof buf, &n), NULL);
    CHECK(n == strlen("unknown result code") && memcmp(buf, "unknown result code", n) == 0);
}

/* Every row of tests/fixtures/errors.json: the family's C band is the header's constant. */
static void test_errors_fixture(void) {
    static const struct {
        const char *family;
        unsigned code;
    } table[] = {
        {"slot", SLOTSHIFT_RESULT_SLOT},
        {"command", SLOTSHIFT_RESULT_COMMAND},
        {"config", SLOTSHIFT_RESULT_CONFIG},
        {"server", SLOTSHIFT_RESULT_SERVER},
        {"connection", SLOTSHIFT_RESULT_CONNECTION},
        {"routing", SLOTSHIFT_RESULT_ROUTING},
        {"pipeline", SLOTSHIFT_RESULT_PIPELINE},
        {"validator", SLOTSHIFT_RESULT_VALIDATOR},
        {"analyzer", SLOTSHIFT_RESULT_ANALYZER},
        {"multistore", SLOTSHIFT_RESULT_MULTISTORE},
        {"embedded", SLOTSHIFT_RESULT_EMBEDDED},
        {"migrate", SLOTSHIFT_RESULT_MIGRATE},
    };
    const size_t rows_known = sizeof table / sizeof table[0];
    char *doc = read_file(env("SLOTSHIFT_FIXTURES"), "errors.json");
    const char *p = strstr(doc, "\"families\"");
    CHECK(p != NULL);
    size_t rows = 0;
    char family[64];
    while (p != NULL && (p = json_string(p, "family", family, sizeof family)) != NULL) {
        long band = -1;
        p = json_number(p, "c_band", &band);
        rows++;
        bool found = false;
        for (size_t i = 0; i < rows_known; i++) {
            if (strcmp(table[i].family, family) == 0) {
                found = true;
                if ((long)table[i].code != band) {
                    fprintf(stderr, "family %s: fixture band %ld, header %u\n", family, band,
                            table[i].code);
                }
                CHECK((long)table[i].code == band);
            }
        }
        if (!found) fprintf(stderr, "family %s of errors.json has no C code\n", family);
        CHECK(found);
        uint8_t buf[256];
        size_t n = 0;
        CHECK_OK(slotshift_result_message((uint32_t)band, buf, sizeof buf, &n), NULL);
        bool unknown = n == strlen("unknown result code") && memcmp(buf, "unknown result code", n) == 0;
        if (unknown) fprintf(stderr, "family %s: band %ld has no message\n", family, band);
        CHECK(!unknown);
    }
    CHECK(rows == rows_known);
    free(doc);
}

/* Every vector of tests/fixtures/slots.json, one by one and as one batch. */
static void test_slots_fixture(void) {
    char *doc = read_file(env("SLOTSHIFT_FIXTURES"), "slots.json");
    const char *p = strstr(doc, "\"vectors\"");
    CHECK(p != NULL);
    static uint8_t keys[256][4096];
    const uint8_t *ptrs[256];
    size_t lens[256];
    uint16_t want[256];
    size_t n = 0;
    static char hex[8200];
    while (p != NULL && n < 256 && (p = json_string(p, "key_hex", hex, sizeof hex)) != NULL) {
        long slot = -1;
        p = json_number(p, "slot", &slot);
        lens[n] = unhex(hex, keys[n]);
        ptrs[n] = keys[n];
        want[n] = (uint16_t)slot;
        uint16_t got = slotshift_key_slot(keys[n], lens[n]);
        if (got != want[n]) fprintf(stderr, "key_hex %s: slot %u, want %ld\n", hex, got, slot);
        CHECK(got == want[n]);
        n++;
    }
    CHECK(n >= 60);
    uint16_t got[256];
    CHECK_OK(slotshift_key_slots(ptrs, lens, n, got), NULL);
    CHECK(memcmp(got, want, n * sizeof got[0]) == 0);
    /* Binary keys, the empty key, NULL handling. */
    CHECK(slotshift_key_slot((const uint8_t *)"123456789", 9) == 12739);
    CHECK(slotshift_key_slot(NULL, 0) == 0);
    CHECK(slotshift_key_slot(NULL, 5) == 65535);
    CHECK(slotshift_key_slot((const uint8_t *)"{a}\0x", 5) == slotshift_key_slot((const uint8_t *)"a", 1));
    uint16_t untouched[2] = {7, 7};
    const uint8_t *bad[2] = {(const uint8_t *)"a", NULL};
    size_t bad_lens[2] = {1, 3};
    CHECK_RESULT(slotshift_key_slots(bad, bad_lens, 2, untouched), SLOTSHIFT_RESULT_NULL_PARAMETER, NULL);
    CHECK(untouched[0] == 7 && untouched[1] == 7);
    CHECK_RESULT(slotshift_key_slots(NULL, lens, 1, got), SLOTSHIFT_RESULT_NULL_PARAMETER, NULL);
    CHECK(double_include_slot() == 12739);
    free(doc);
}

static void test_null_parameters(void) {
    slotshift_error *err = NULL;
    slotshift_client *client = NULL;
    CHECK_RESULT(slotshift_client_new(NULL, &client, &err), SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    CHECK(client == NULL);
    CHECK(err != NULL && slotshift_error_result(err) == SLOTSHIFT_RESULT_NULL_PARAMETER);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "url") != NULL);
    clear_error(&err);
    CHECK_RESULT(slotshift_client_new(env("SLOTSHIFT_TEST_STANDALONE"), NULL, &err),
                 SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "out") != NULL);
    clear_error(&err);
    /* The error detail is optional. */
    CHECK_RESULT(slotshift_client_new(NULL, &client, NULL), SLOTSHIFT_RESULT_NULL_PARAMETER, NULL);

    slotshift_reply *reply = NULL;
    CHECK_RESULT(call(NULL, &reply, &err, "PING", NULL), SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    CHECK(reply == NULL);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "client") != NULL);
    clear_error(&err);
    CHECK_RESULT(slotshift_client_pipeline(NULL, NULL, NULL, &err), SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    clear_error(&err);
    CHECK_RESULT(slotshift_multistore_call(NULL, NULL, NULL, 0, NULL, &err),
                 SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    clear_error(&err);
    CHECK_RESULT(slotshift_analyze(NULL, NULL, NULL, &err), SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    clear_error(&err);
    CHECK_RESULT(slotshift_metrics_text(NULL, NULL), SLOTSHIFT_RESULT_NULL_PARAMETER, NULL);
    CHECK_RESULT(slotshift_recorder_start(NULL, 0, NULL), SLOTSHIFT_RESULT_NULL_PARAMETER, NULL);
    CHECK_RESULT(slotshift_validator_counts(NULL, NULL, NULL, NULL), SLOTSHIFT_RESULT_NULL_PARAMETER, NULL);
    CHECK_RESULT(slotshift_pipeline_add(NULL, NULL, NULL, 1), SLOTSHIFT_RESULT_NULL_PARAMETER, NULL);
    int64_t i = 0;
    CHECK_RESULT(slotshift_reply_integer(NULL, &i), SLOTSHIFT_RESULT_NULL_PARAMETER, NULL);
    CHECK(slotshift_reply_type(NULL) == SLOTSHIFT_VALUE_TYPE_UNKNOWN);
    CHECK(slotshift_reply_len(NULL) == 0);
    CHECK(slotshift_replies_len(NULL) == 0);
    CHECK(slotshift_client_kind(NULL) == SLOTSHIFT_DEPLOYMENT_KIND_UNKNOWN);
    CHECK(slotshift_error_message(NULL) == NULL);
    CHECK(slotshift_error_result(NULL) == SLOTSHIFT_RESULT_NULL_PARAMETER);
    /* _free(NULL) is a no-op for every type. */
    slotshift_client_free(NULL);
    slotshift_client_options_free(NULL);
    slotshift_reply_free(NULL);
    slotshift_replies_free(NULL);
    slotshift_pipeline_free(NULL);
    slotshift_multistore_free(NULL);
    slotshift_recorder_free(NULL);
    slotshift_analyze_options_free(NULL);
    slotshift_report_free(NULL);
    slotshift_error_free(NULL);
    slotshift_string_free(NULL);
}

static void test_bad_urls(void) {
    slotshift_error *err = NULL;
    slotshift_client *client = NULL;
    CHECK_RESULT(slotshift_client_new("redis://user:s3cretpw@127.0.0.1:notaport", &client, &err),
                 SLOTSHIFT_RESULT_CONFIG, err);
    CHECK(client == NULL);
    CHECK(err != NULL && slotshift_error_result(err) == SLOTSHIFT_RESULT_CONFIG);
    CHECK(err != NULL && strlen(slotshift_error_message(err)) > 0);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "s3cretpw") == NULL);
    clear_error(&err);
    CHECK_RESULT(slotshift_client_new("\xff\xfe", &client, &err), SLOTSHIFT_RESULT_INVALID_UTF8, err);
    clear_error(&err);
    /* Nothing listens on port 1: a connection error naming the node, not the password. */
    slotshift_result r = slotshift_client_new("redis://:hunter2pw@127.0.0.1:1", &client, &err);
    CHECK(r / 100 * 100 == SLOTSHIFT_RESULT_CONNECTION);
    CHECK(client == NULL);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "127.0.0.1:1") != NULL);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "hunter2pw") == NULL);
    clear_error(&err);
    const char *seeds[1] = {NULL};
    CHECK_RESULT(slotshift_client_new_seeds(seeds, 1, &client, &err), SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "urls[0]") != NULL);
    clear_error(&err);
    CHECK_RESULT(slotshift_client_new_seeds(seeds, 0, &client, &err), SLOTSHIFT_RESULT_INVALID_ARGUMENT, err);
    clear_error(&err);
    /* A count no array can have: refused with an error, the process goes on (it used to
     * abort with a panic that could not unwind). */
    CHECK_RESULT(slotshift_client_new_seeds(seeds, SIZE_MAX, &client, &err), SLOTSHIFT_RESULT_INVALID_ARGUMENT, err);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "n is") != NULL);
    CHECK(client == NULL);
    clear_error(&err);
}

static void test_standalone(void) {
    slotshift_error *err = NULL;
    slotshift_client *c = NULL;
    CHECK_OK(slotshift_client_new(env("SLOTSHIFT_TEST_STANDALONE"), &c, &err), err);
    if (c == NULL) return;
    CHECK(slotshift_client_kind(c) == SLOTSHIFT_DEPLOYMENT_KIND_STANDALONE);
    slotshift_reply *r = NULL;

    /* Binary-safe SET / GET: NUL bytes in key and value. */
    const uint8_t key[] = {'c', ':', 'b', 0, 'k', 0xff};
    const uint8_t value[] = {0, 1, 2, 'v', 0, 0xfe};
    const uint8_t *set_argv[3] = {(const uint8_t *)"SET", key, value};
    size_t set_lens[3] = {3, sizeof key, sizeof value};
    CHECK_OK(slotshift_client_call(c, set_argv, set_lens, 3, &r, &err), err);
    CHECK(slotshift_reply_type(r) == SLOTSHIFT_VALUE_TYPE_STATUS);
    CHECK(bytes_are(r, "OK", 2));
    slotshift_reply_free(r);
    r = NULL;
    const uint8_t *get_argv[2] = {(const uint8_t *)"GET", key};
    size_t get_lens[2] = {3, sizeof key};
    CHECK_OK(slotshift_client_call(c, get_argv, get_lens, 2, &r, &err), err);
    CHECK(slotshift_reply_type(r) == SLOTSHIFT_VALUE_TYPE_BULK);
    CHECK(bytes_are(r, value, sizeof value));
    /* Wrong accessor: a bulk is not an integer; the output stays untouched. */
    int64_t iv = 42;
    CHECK_RESULT(slotshift_reply_integer(r, &iv), SLOTSHIFT_RESULT_REPLY_WRONG_TYPE, NULL);
    CHECK(iv == 42);
    const slotshift_reply *el = NULL;
    CHECK_RESULT(slotshift_reply_element(r, 0, &el), SLOTSHIFT_RESULT_REPLY_WRONG_TYPE, NULL);
    slotshift_reply_free(r);
    r = NULL;

    /* A missing key is nil. */
    CHECK_OK(call(c, &r, &err, "GET", "c:missing", NULL), err);
    CHECK(slotshift_reply_type(r) == SLOTSHIFT_VALUE_TYPE_NIL);
    const uint8_t *bp = NULL;
    size_t bn = 0;
    CHECK_RESULT(slotshift_reply_bytes(r, &bp, &bn), SLOTSHIFT_RESULT_REPLY_WRONG_TYPE, NULL);
    slotshift_reply_free(r);
    r = NULL;

    /* MGET: an array, in order, nil for the missing key. */
    CHECK_OK(call(c, &r, &err, "SET", "c:a", "1", NULL), err);
    slotshift_reply_free(r);
    CHECK_OK(call(c, &r, &err, "SET", "c:b", "2", NULL), err);
    slotshift_reply_free(r);
    r = NULL;
    CHECK_OK(call(c, &r, &err, "MGET", "c:a", "c:missing", "c:b", NULL), err);
    CHECK(slotshift_reply_type(r) == SLOTSHIFT_VALUE_TYPE_ARRAY);
    CHECK(slotshift_reply_len(r) == 3);
    CHECK_OK(slotshift_reply_element(r, 0, &el), NULL);
    CHECK(bytes_are(el, "1", 1));
    CHECK_OK(slotshift_reply_element(r, 1, &el), NULL);
    CHECK(slotshift_reply_type(el) == SLOTSHIFT_VALUE_TYPE_NIL);
    CHECK_OK(slotshift_reply_element(r, 2, &el), NULL);
    CHECK(bytes_are(el, "2", 1));
    const slotshift_reply *untouched = (const slotshift_reply *)&iv;
    CHECK_RESULT(slotshift_reply_element(r, 3, &untouched), SLOTSHIFT_RESULT_OUT_OF_RANGE, NULL);
    CHECK(untouched == (const slotshift_reply *)&iv);
    slotshift_reply_free(r);
    r = NULL;

    /* Integers. */
    CHECK_OK(call(c, &r, &err, "DEL", "c:counter", NULL), err);
    slotshift_reply_free(r);
    r = NULL;
    CHECK_OK(call(c, &r, &err, "INCRBY", "c:counter", "41", NULL), err);
    CHECK(slotshift_reply_type(r) == SLOTSHIFT_VALUE_TYPE_INTEGER);
    CHECK_OK(slotshift_reply_integer(r, &iv), NULL);
    CHECK(iv == 41);
    slotshift_reply_free(r);
    r = NULL;

    /* A server error reply: WRONGTYPE, with the server's text as the detail. */
    CHECK_RESULT(call(c, &r, &err, "LPUSH", "c:a", "x", NULL), SLOTSHIFT_RESULT_SERVER_WRONGTYPE, err);
    CHECK(r == NULL);
    CHECK(err != NULL && strncmp(slotshift_error_message(err), "WRONGTYPE", 9) == 0);
    CHECK(err != NULL && slotshift_error_result(err) == SLOTSHIFT_RESULT_SERVER_WRONGTYPE);
    clear_error(&err);
    /* Another error reply: the generic server code. */
    CHECK_RESULT(call(c, &r, &err, "INCR", "c:a", "extra", NULL), SLOTSHIFT_RESULT_SERVER, err);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "ERR") != NULL);
    clear_error(&err);
    /* Bad arguments. */
    CHECK_RESULT(slotshift_client_call(c, NULL, NULL, 0, &r, &err), SLOTSHIFT_RESULT_INVALID_ARGUMENT, err);
    clear_error(&err);
    const uint8_t *nul_argv[2] = {(const uint8_t *)"GET", NULL};
    size_t nul_lens[2] = {3, 4};
    CHECK_RESULT(slotshift_client_call(c, nul_argv, nul_lens, 2, &r, &err), SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "argv[1]") != NULL);
    clear_error(&err);
    /* NULL with length 0 is the empty argument. */
    nul_lens[1] = 0;
    CHECK_OK(slotshift_client_call(c, nul_argv, nul_lens, 2, &r, &err), err);
    CHECK(slotshift_reply_type(r) == SLOTSHIFT_VALUE_TYPE_NIL);
    slotshift_reply_free(r);
    r = NULL;

    /* Pipeline: one failing command fails only its entry. */
    slotshift_pipeline *p = slotshift_pipeline_new();
    CHECK(p != NULL);
    const uint8_t *a1[3] = {(const uint8_t *)"SET", (const uint8_t *)"c:p", (const uint8_t *)"v"};
    size_t l1[3] = {3, 3, 1};
    CHECK_OK(slotshift_pipeline_add(p, a1, l1, 3), NULL);
    const uint8_t *a2[3] = {(const uint8_t *)"LPUSH", (const uint8_t *)"c:p", (const uint8_t *)"x"};
    size_t l2[3] = {5, 3, 1};
    CHECK_OK(slotshift_pipeline_add(p, a2, l2, 3), NULL);
    const uint8_t *a3[2] = {(const uint8_t *)"GET", (const uint8_t *)"c:p"};
    size_t l3[2] = {3, 3};
    CHECK_OK(slotshift_pipeline_add(p, a3, l3, 2), NULL);
    CHECK_RESULT(slotshift_pipeline_add(p, a3, l3, 0), SLOTSHIFT_RESULT_INVALID_ARGUMENT, NULL);
    CHECK(slotshift_pipeline_len(p) == 3);
    slotshift_replies *rs = NULL;
    CHECK_OK(slotshift_client_pipeline(c, p, &rs, &err), err);
    CHECK(slotshift_replies_len(rs) == 3);
    const slotshift_reply *e = NULL;
    CHECK_OK(slotshift_replies_get(rs, 0, &e, &err), err);
    CHECK(bytes_are(e, "OK", 2));
    e = NULL;
    CHECK_RESULT(slotshift_replies_get(rs, 1, &e, &err), SLOTSHIFT_RESULT_SERVER_WRONGTYPE, err);
    CHECK(e == NULL);
    clear_error(&err);
    CHECK_OK(slotshift_replies_get(rs, 2, &e, &err), err);
    CHECK(bytes_are(e, "v", 1));
    CHECK_RESULT(slotshift_replies_get(rs, 3, &e, &err), SLOTSHIFT_RESULT_OUT_OF_RANGE, err);
    clear_error(&err);
    slotshift_replies_free(rs);

    /* Transaction: an array of replies, an error reply as an element. */
    CHECK_OK(slotshift_client_transaction(c, p, &r, &err), err);
    CHECK(slotshift_reply_type(r) == SLOTSHIFT_VALUE_TYPE_ARRAY);
    CHECK(slotshift_reply_len(r) == 3);
    CHECK_OK(slotshift_reply_element(r, 1, &el), NULL);
    CHECK(slotshift_reply_type(el) == SLOTSHIFT_VALUE_TYPE_ERROR);
    const char *code = NULL, *detail = NULL;
    size_t code_len = 0, detail_len = 0;
    CHECK_OK(slotshift_reply_error(el, &code, &code_len, &detail, &detail_len), NULL);
    CHECK(code_len == 9 && memcmp(code, "WRONGTYPE", 9) == 0);
    CHECK(detail_len > 0);
    slotshift_reply_free(r);
    r = NULL;
    slotshift_pipeline_clear(p);
    CHECK(slotshift_pipeline_len(p) == 0);
    slotshift_pipeline_free(p);

    /* RESP3-only types are not reachable on RESP2; a HELLO-less standalone gives a map as an
     * array. CONFIG GET shows element walking of a flat array. */
    CHECK_OK(call(c, &r, &err, "CONFIG", "GET", "maxmemory-policy", NULL), err);
    CHECK(slotshift_reply_len(r) == 2);
    slotshift_reply_free(r);
    slotshift_client_free(c);
}

static slotshift_client *cluster_client(slotshift_error **err) {
    /* The seed list as one string, and as an array of seeds. */
    const char *seeds = env("SLOTSHIFT_TEST_CLUSTER");
    slotshift_client *c = NULL;
    CHECK_OK(slotshift_client_new(seeds, &c, err), *err);
    CHECK(slotshift_client_kind(c) == SLOTSHIFT_DEPLOYMENT_KIND_CLUSTER);
    char *copy = strdup(seeds);
    const char *list[16];
    size_t n = 0;
    for (char *tok = strtok(copy, ","); tok != NULL && n < 16; tok = strtok(NULL, ",")) list[n++] = tok;
    slotshift_client *c2 = NULL;
    CHECK_OK(slotshift_client_new_seeds(list, n, &c2, err), *err);
    CHECK(slotshift_client_kind(c2) == SLOTSHIFT_DEPLOYMENT_KIND_CLUSTER);
    slotshift_client_free(c2);
    free(copy);
    return c;
}

static void test_cluster(void) {
    slotshift_error *err = NULL;
    slotshift_client *c = cluster_client(&err);
    if (c == NULL) return;
    slotshift_reply *r = NULL;
    enum { N = 200 };
    static char names[N][32];
    static char values[N][32];
    /* SET each key (routed by slot), then one MGET of all: the batcher splits it per slot and
     * puts the replies back in order. */
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "c:cluster:%d", i);
        snprintf(values[i], sizeof values[i], "value-%d", i);
        CHECK_OK(call(c, &r, &err, "SET", names[i], values[i], NULL), err);
        slotshift_reply_free(r);
        r = NULL;
    }
    const uint8_t *argv[N + 2];
    size_t lens[N + 2];
    argv[0] = (const uint8_t *)"MGET";
    lens[0] = 4;
    for (int i = 0; i < N; i++) {
        argv[i + 1] = (const uint8_t *)names[i];
        lens[i + 1] = strlen(names[i]);
    }
    argv[N + 1] = (const uint8_t *)"c:cluster:missing";
    lens[N + 1] = strlen("c:cluster:missing");
    /* The keys span many slots. */
    uint16_t first = slotshift_key_slot(argv[1], lens[1]);
    int other_slots = 0;
    for (int i = 2; i <= N; i++) other_slots += slotshift_key_slot(argv[i], lens[i]) != first;
    CHECK(other_slots > N / 2);
    CHECK_OK(slotshift_client_call(c, argv, lens, N + 2, &r, &err), err);
    CHECK(slotshift_reply_len(r) == N + 1);
    int same = 0;
    for (int i = 0; i < N; i++) {
        const slotshift_reply *el = NULL;
        if (slotshift_reply_element(r, (size_t)i, &el) == SLOTSHIFT_RESULT_OK &&
            bytes_are(el, values[i], strlen(values[i])))
            same++;
    }
    CHECK(same == N);
    const slotshift_reply *last = NULL;
    CHECK_OK(slotshift_reply_element(r, N, &last), NULL);
    CHECK(slotshift_reply_type(last) == SLOTSHIFT_VALUE_TYPE_NIL);
    slotshift_reply_free(r);
    r = NULL;

    /* GET of one key on the cluster. */
    CHECK_OK(call(c, &r, &err, "GET", "c:cluster:7", NULL), err);
    CHECK(bytes_are(r, "value-7", 7));
    slotshift_reply_free(r);
    r = NULL;

    /* A pipeline across slots. */
    slotshift_pipeline *p = slotshift_pipeline_new();
    for (int i = 0; i < 50; i++) {
        const uint8_t *a[2] = {(const uint8_t *)"GET", (const uint8_t *)names[i]};
        size_t l[2] = {3, strlen(names[i])};
        CHECK_OK(slotshift_pipeline_add(p, a, l, 2), NULL);
    }
    slotshift_replies *rs = NULL;
    CHECK_OK(slotshift_client_pipeline(c, p, &rs, &err), err);
    int ok = 0;
    for (int i = 0; i < 50; i++) {
        const slotshift_reply *e = NULL;
        if (slotshift_replies_get(rs, (size_t)i, &e, NULL) == SLOTSHIFT_RESULT_OK &&
            bytes_are(e, values[i], strlen(values[i])))
            ok++;
    }
    CHECK(ok == 50);
    slotshift_replies_free(rs);
    slotshift_pipeline_free(p);

    /* DEL across slots counts every key. */
    argv[0] = (const uint8_t *)"DEL";
    lens[0] = 3;
    CHECK_OK(slotshift_client_call(c, argv, lens, N + 2, &r, &err), err);
    int64_t deleted = 0;
    CHECK_OK(slotshift_reply_integer(r, &deleted), NULL);
    CHECK(deleted == N);
    slotshift_reply_free(r);
    r = NULL;

    /* A cross-slot transaction is refused before anything is sent. */
    slotshift_pipeline *tx = slotshift_pipeline_new();
    const uint8_t *t1[3] = {(const uint8_t *)"SET", (const uint8_t *)"c:tx:a", (const uint8_t *)"1"};
    const uint8_t *t2[3] = {(const uint8_t *)"SET", (const uint8_t *)"c:tx:b", (const uint8_t *)"1"};
    size_t tl[3] = {3, 6, 1};
    CHECK(slotshift_key_slot(t1[1], 6) != slotshift_key_slot(t2[1], 6));
    CHECK_OK(slotshift_pipeline_add(tx, t1, tl, 3), NULL);
    CHECK_OK(slotshift_pipeline_add(tx, t2, tl, 3), NULL);
    CHECK_RESULT(slotshift_client_transaction(c, tx, &r, &err), SLOTSHIFT_RESULT_ROUTING, err);
    CHECK(r == NULL);
    clear_error(&err);
    slotshift_pipeline_free(tx);
    slotshift_client_free(c);
}

/* --- A standalone-style connection to one node: a socket speaking RESP, no slotshift, so the
 * checks of what each master holds do not trust the library they test. */

/* A connected socket to `url` (redis://HOST:PORT), or -1. */
static int node_open(const char *url) {
    const char *hp = strstr(url, "://");
    hp = hp != NULL ? hp + 3 : url;
    const char *at = strrchr(hp, '@');
    if (at != NULL) hp = at + 1;
    const char *colon = strrchr(hp, ':');
    if (colon == NULL) return -1;
    char host[256], port[16];
    size_t hl = (size_t)(colon - hp), pl = strcspn(colon + 1, "/");
    if (hl >= sizeof host || pl >= sizeof port) return -1;
    memcpy(host, hp, hl);
    host[hl] = '\0';
    memcpy(port, colon + 1, pl);
    port[pl] = '\0';
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        struct timeval tv = {10, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    return fd;
}

/* Sends one command (NUL-terminated text arguments, NULL-terminated list) to the node at `url`
 * on a connection of its own; reads at least the reply's first `lines` lines into `out`
 * (NUL-terminated). False on any failure. */
static bool node_call(const char *url, int lines, char *out, size_t cap, ...) {
    const char *args[8];
    int argc = 0;
    va_list ap;
    va_start(ap, cap);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 8) args[argc++] = a;
    va_end(ap);
    char req[1024];
    int n = snprintf(req, sizeof req, "*%d\r\n", argc);
    for (int i = 0; i < argc && n > 0 && (size_t)n < sizeof req; i++)
        n += snprintf(req + n, sizeof req - (size_t)n, "$%zu\r\n%s\r\n", strlen(args[i]), args[i]);
    if (n <= 0 || (size_t)n >= sizeof req) return false;
    int fd = node_open(url);
    if (fd < 0) return false;
    bool ok = write(fd, req, (size_t)n) == (ssize_t)n;
    size_t got = 0;
    int seen = 0;
    while (ok && seen < lines && got < cap - 1) {
        ssize_t k = read(fd, out + got, cap - 1 - got);
        if (k <= 0) {
            ok = false;
            break;
        }
        for (ssize_t j = 0; j < k; j++) seen += out[got + (size_t)j] == '\n';
        got += (size_t)k;
    }
    out[got] = '\0';
    close(fd);
    return ok && seen >= lines;
}

/* DBSIZE of one node, or -1. */
static long long node_dbsize(const char *url) {
    char buf[64];
    if (!node_call(url, 1, buf, sizeof buf, "DBSIZE", NULL) || buf[0] != ':') return -1;
    return strtoll(buf + 1, NULL, 10);
}

static bool node_is_master(const char *url) {
    static const char master[] = "*3\r\n$6\r\nmaster\r\n";
    char buf[256];
    return node_call(url, 3, buf, sizeof buf, "ROLE", NULL) && strncmp(buf, master, strlen(master)) == 0;
}

/* Keyspace-wide commands on the 3x1 cluster, sent as plain calls: the core routes DBSIZE, KEYS,
 * FLUSHALL and SCRIPT LOAD by their command tips to every master and aggregates the replies.
 * Empties the cluster (the tests after this one write their own keys). */
static void test_all_shards(void) {
    slotshift_error *err = NULL;
    slotshift_client *c = cluster_client(&err);
    if (c == NULL) return;
    slotshift_reply *r = NULL;
    char buf[256];

    /* The masters (the seed list has the replicas too), each emptied directly. */
    char *seeds = strdup(env("SLOTSHIFT_TEST_CLUSTER"));
    const char *masters[16];
    size_t nm = 0, nr = 0;
    for (char *tok = strtok(seeds, ","); tok != NULL && nm < 16; tok = strtok(NULL, ",")) {
        if (node_is_master(tok))
            masters[nm++] = tok;
        else
            nr++;
    }
    CHECK(nm == 3 && nr == 3);
    for (size_t m = 0; m < nm; m++) {
        CHECK(node_call(masters[m], 1, buf, sizeof buf, "FLUSHALL", NULL) && strcmp(buf, "+OK\r\n") == 0);
        CHECK(node_call(masters[m], 1, buf, sizeof buf, "SCRIPT", "FLUSH", NULL) && strcmp(buf, "+OK\r\n") == 0);
    }

    /* 30 keys over 30 slots, on every master. */
    enum { K = 30 };
    static char names[K][32];
    static char values[K][16];
    for (int i = 0; i < K; i++) {
        snprintf(names[i], sizeof names[i], "c:allshards:%d", i);
        snprintf(values[i], sizeof values[i], "v%d", i);
        CHECK_OK(call(c, &r, &err, "SET", names[i], values[i], NULL), err);
        slotshift_reply_free(r);
        r = NULL;
    }
    long long sum = 0;
    for (size_t m = 0; m < nm; m++) {
        long long n = node_dbsize(masters[m]);
        CHECK(n > 0);
        sum += n;
    }
    CHECK(sum == K);

    /* DBSIZE: the sum over the masters. */
    int64_t dbsize = -1;
    CHECK_OK(call(c, &r, &err, "DBSIZE", NULL), err);
    CHECK_OK(slotshift_reply_integer(r, &dbsize), NULL);
    CHECK(dbsize == K);
    slotshift_reply_free(r);
    r = NULL;

    /* KEYS: the keys of every master, each once. */
    CHECK_OK(call(c, &r, &err, "KEYS", "c:allshards:*", NULL), err);
    CHECK(slotshift_reply_len(r) == K);
    bool seen[K] = {false};
    int distinct = 0;
    for (size_t j = 0; j < slotshift_reply_len(r); j++) {
        const slotshift_reply *el = NULL;
        if (slotshift_reply_element(r, j, &el) != SLOTSHIFT_RESULT_OK) continue;
        for (int i = 0; i < K; i++) {
            if (!seen[i] && bytes_are(el, names[i], strlen(names[i]))) {
                seen[i] = true;
                distinct++;
                break;
            }
        }
    }
    CHECK(distinct == K);
    slotshift_reply_free(r);
    r = NULL;

    /* SCRIPT LOAD: on every master, so EVALSHA works for the keys of each. */
    CHECK_OK(call(c, &r, &err, "SCRIPT", "LOAD", "return redis.call('GET', KEYS[1])", NULL), err);
    char sha[41] = "";
    const uint8_t *sp = NULL;
    size_t sn = 0;
    if (slotshift_reply_bytes(r, &sp, &sn) == SLOTSHIFT_RESULT_OK && sn == 40) {
        memcpy(sha, sp, 40);
        sha[40] = '\0';
    }
    CHECK(strlen(sha) == 40);
    slotshift_reply_free(r);
    r = NULL;
    int evals = 0;
    for (int i = 0; i < K; i++) {
        if (call(c, &r, &err, "EVALSHA", sha, "1", names[i], NULL) == SLOTSHIFT_RESULT_OK &&
            bytes_are(r, values[i], strlen(values[i])))
            evals++;
        else if (err != NULL)
            fprintf(stderr, "EVALSHA %s: %s\n", names[i], slotshift_error_message(err));
        clear_error(&err);
        slotshift_reply_free(r);
        r = NULL;
    }
    CHECK(evals == K);
    for (size_t m = 0; m < nm; m++)
        CHECK(node_call(masters[m], 2, buf, sizeof buf, "SCRIPT", "EXISTS", sha, NULL) &&
              strcmp(buf, "*1\r\n:1\r\n") == 0);

    /* FLUSHALL: every master empty. */
    CHECK_OK(call(c, &r, &err, "FLUSHALL", NULL), err);
    CHECK(bytes_are(r, "OK", 2));
    slotshift_reply_free(r);
    r = NULL;
    CHECK_OK(call(c, &r, &err, "DBSIZE", NULL), err);
    dbsize = -1;
    CHECK_OK(slotshift_reply_integer(r, &dbsize), NULL);
    CHECK(dbsize == 0);
    slotshift_reply_free(r);
    r = NULL;
    for (size_t m = 0; m < nm; m++) CHECK(node_dbsize(masters[m]) == 0);

    free(seeds);
    slotshift_client_free(c);
}

static void test_sentinel(void) {
    slotshift_error *err = NULL;
    slotshift_client *c = NULL;
    CHECK_OK(slotshift_client_new(env("SLOTSHIFT_TEST_SENTINEL"), &c, &err), err);
    if (c == NULL) {
        clear_error(&err);
        return;
    }
    CHECK(slotshift_client_kind(c) == SLOTSHIFT_DEPLOYMENT_KIND_SENTINEL);
    slotshift_reply *r = NULL;
    CHECK_OK(call(c, &r, &err, "SET", "c:sentinel", "yes", NULL), err);
    slotshift_reply_free(r);
    r = NULL;
    CHECK_OK(call(c, &r, &err, "GET", "c:sentinel", NULL), err);
    CHECK(bytes_are(r, "yes", 3));
    slotshift_reply_free(r);
    slotshift_client_free(c);
}

static bool has_value(const slotshift_client *c, const char *key, const char *value) {
    slotshift_reply *r = NULL;
    bool same = call(c, &r, NULL, "GET", key, NULL) == SLOTSHIFT_RESULT_OK && bytes_are(r, value, strlen(value));
    slotshift_reply_free(r);
    return same;
}

static bool is_missing(const slotshift_client *c, const char *key) {
    slotshift_reply *r = NULL;
    bool missing = call(c, &r, NULL, "GET", key, NULL) == SLOTSHIFT_RESULT_OK &&
                   slotshift_reply_type(r) == SLOTSHIFT_VALUE_TYPE_NIL;
    slotshift_reply_free(r);
    return missing;
}

static slotshift_result ms_call(const slotshift_multistore *ms, slotshift_reply **out, slotshift_error **err,
                                const char *a0, const char *a1, const char *a2) {
    const uint8_t *argv[3] = {(const uint8_t *)a0, (const uint8_t *)a1, (const uint8_t *)a2};
    size_t lens[3] = {strlen(a0), strlen(a1), a2 != NULL ? strlen(a2) : 0};
    return slotshift_multistore_call(ms, argv, lens, a2 != NULL ? 3 : 2, out, err);
}

static void test_multistore(void) {
    slotshift_error *err = NULL;
    slotshift_client *cluster = cluster_client(&err);
    slotshift_client *old = NULL;
    CHECK_OK(slotshift_client_new(env("SLOTSHIFT_TEST_STANDALONE2"), &old, &err), err);
    if (cluster == NULL || old == NULL) {
        slotshift_client_free(cluster);
        slotshift_client_free(old);
        clear_error(&err);
        return;
    }
    slotshift_multistore *ms = NULL;
    /* A bad name is the MultiStore family's error. */
    CHECK_RESULT(slotshift_multistore_new("", cluster, old, true, false, &ms, &err),
                 SLOTSHIFT_RESULT_MULTISTORE, err);
    CHECK(ms == NULL);
    clear_error(&err);
    CHECK_RESULT(slotshift_multistore_new("CSessions", NULL, old, true, false, &ms, &err),
                 SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    clear_error(&err);

    /* Dual-write, the old store still the default. */
    CHECK_OK(slotshift_multistore_new("CSessions", cluster, old, true, false, &ms, &err), err);
    if (ms == NULL) goto done;
    bool dual = false, primary_default = true;
    CHECK_OK(slotshift_multistore_flags(ms, &dual, &primary_default), NULL);
    CHECK(dual && !primary_default);
    slotshift_reply *r = NULL;
    CHECK_OK(ms_call(ms, &r, &err, "SET", "c:ms:1", "both"), err);
    slotshift_reply_free(r);
    r = NULL;
    CHECK(has_value(cluster, "c:ms:1", "both"));
    CHECK(has_value(old, "c:ms:1", "both"));
    CHECK_OK(ms_call(ms, &r, &err, "GET", "c:ms:1", NULL), err);
    CHECK(bytes_are(r, "both", 4));
    slotshift_reply_free(r);
    r = NULL;

    /* A pipeline that writes goes to both stores too. */
    slotshift_pipeline *p = slotshift_pipeline_new();
    const uint8_t *a1[3] = {(const uint8_t *)"SET", (const uint8_t *)"c:ms:2", (const uint8_t *)"p"};
    size_t l1[3] = {3, 6, 1};
    CHECK_OK(slotshift_pipeline_add(p, a1, l1, 3), NULL);
    slotshift_replies *rs = NULL;
    CHECK_OK(slotshift_multistore_pipeline(ms, p, &rs, &err), err);
    CHECK(slotshift_replies_len(rs) == 1);
    slotshift_replies_free(rs);
    slotshift_pipeline_free(p);
    CHECK(has_value(cluster, "c:ms:2", "p"));
    CHECK(has_value(old, "c:ms:2", "p"));

    /* The new store only: writes no longer reach the old one. */
    CHECK_OK(slotshift_multistore_set_flags(ms, false, true, &err), err);
    CHECK_OK(slotshift_multistore_flags(ms, &dual, &primary_default), NULL);
    CHECK(!dual && primary_default);
    CHECK_OK(ms_call(ms, &r, &err, "SET", "c:ms:3", "new-only"), err);
    slotshift_reply_free(r);
    r = NULL;
    CHECK(has_value(cluster, "c:ms:3", "new-only"));
    CHECK(is_missing(old, "c:ms:3"));

    char *text = NULL;
    size_t text_len = 0;
    CHECK_OK(slotshift_multistore_metrics_text(ms, &text, &text_len), NULL);
    CHECK(text != NULL && strlen(text) == text_len);
    CHECK(text != NULL && strstr(text, "multi_store") != NULL);
    CHECK(text != NULL && strstr(text, "instance_name=\"CSessions\"") != NULL);
    slotshift_string_free(text);

    /* Freed before its clients here; the other order is shown in test_shutdown_order. */
    slotshift_multistore_free(ms);
done:
    slotshift_client_free(cluster);
    slotshift_client_free(old);
}

/* Clients freed before the MultiStore made from them: the MultiStore keeps working. */
static void test_shutdown_order(void) {
    slotshift_error *err = NULL;
    slotshift_client *a = NULL, *b = NULL;
    CHECK_OK(slotshift_client_new(env("SLOTSHIFT_TEST_STANDALONE"), &a, &err), err);
    CHECK_OK(slotshift_client_new(env("SLOTSHIFT_TEST_STANDALONE2"), &b, &err), err);
    slotshift_multistore *ms = NULL;
    CHECK_OK(slotshift_multistore_new("order", a, b, true, false, &ms, &err), err);
    slotshift_client_free(a);
    slotshift_client_free(b);
    slotshift_reply *r = NULL;
    CHECK_OK(ms_call(ms, &r, &err, "SET", "c:order", "x"), err);
    slotshift_reply_free(r);
    slotshift_multistore_free(ms);
    clear_error(&err);
}

static void test_validator(void) {
    slotshift_error *err = NULL;
    CHECK_RESULT(slotshift_validator_set_mode(7), SLOTSHIFT_RESULT_INVALID_ARGUMENT, NULL);
    CHECK_OK(slotshift_validator_set_mode(SLOTSHIFT_VALIDATION_MODE_COUNT), NULL);
    CHECK(slotshift_validator_mode() == SLOTSHIFT_VALIDATION_MODE_COUNT);
    CHECK_OK(slotshift_validator_set_mode(SLOTSHIFT_VALIDATION_MODE_OFF), NULL);
    CHECK(slotshift_validator_mode() == SLOTSHIFT_VALIDATION_MODE_OFF);

    slotshift_client_options *o = slotshift_client_options_new();
    CHECK(o != NULL);
    CHECK_OK(slotshift_client_options_set_name(o, "c_validated"), NULL);
    CHECK_RESULT(slotshift_client_options_set_cross_slot_validation(o, 99), SLOTSHIFT_RESULT_INVALID_ARGUMENT, NULL);
    CHECK_OK(slotshift_client_options_set_cross_slot_validation(o, SLOTSHIFT_VALIDATION_MODE_RAISE), NULL);
    CHECK_OK(slotshift_client_options_set_instrument(o, true), NULL);
    slotshift_client *c = NULL;
    CHECK_OK(slotshift_client_new_with_options(env("SLOTSHIFT_TEST_STANDALONE"), o, &c, &err), err);
    slotshift_client_options_free(o);
    if (c == NULL) return;
    slotshift_reply *r = NULL;
    /* Keys in different slots: refused before it is sent (a standalone would accept it). */
    CHECK(slotshift_key_slot((const uint8_t *)"c:v:a", 5) != slotshift_key_slot((const uint8_t *)"c:v:b", 5));
    CHECK_RESULT(call(c, &r, &err, "MGET", "c:v:a", "c:v:b", NULL), SLOTSHIFT_RESULT_VALIDATOR, err);
    CHECK(r == NULL);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "MGET") != NULL);
    clear_error(&err);
    uint64_t cross = 0, allowed = 0, refused = 0;
    CHECK_OK(slotshift_validator_counts("c_validated", &cross, &allowed, &refused), NULL);
    CHECK(refused == 1);
    /* Inside an allow scope on this thread, it is sent and counted as allowed. */
    CHECK(!slotshift_validator_is_allowed());
    slotshift_validator_allow_enter();
    CHECK(slotshift_validator_is_allowed());
    CHECK_OK(call(c, &r, &err, "MGET", "c:v:a", "c:v:b", NULL), err);
    CHECK(slotshift_reply_len(r) == 2);
    slotshift_reply_free(r);
    r = NULL;
    slotshift_validator_allow_exit();
    CHECK(!slotshift_validator_is_allowed());
    CHECK_OK(slotshift_validator_counts("c_validated", &cross, &allowed, &refused), NULL);
    CHECK(allowed == 1 && refused == 1);
    /* Same slot (hash tag): no violation. */
    CHECK_OK(call(c, &r, &err, "MGET", "{c:v}a", "{c:v}b", NULL), err);
    slotshift_reply_free(r);
    slotshift_client_free(c);

    /* The pipeline family: a batch limit of 0 is refused when the client is made. */
    o = slotshift_client_options_new();
    CHECK_OK(slotshift_client_options_set_batch_limit(o, 0), NULL);
    c = NULL;
    CHECK_RESULT(slotshift_client_new_with_options(env("SLOTSHIFT_TEST_STANDALONE"), o, &c, &err),
                 SLOTSHIFT_RESULT_PIPELINE, err);
    CHECK(c == NULL);
    clear_error(&err);
    slotshift_client_options_free(o);
}

static void test_metrics_and_recorder(void) {
    slotshift_error *err = NULL;
    slotshift_client_options *o = slotshift_client_options_new();
    CHECK_OK(slotshift_client_options_set_name(o, "c_recorded"), NULL);
    slotshift_client *c = NULL;
    CHECK_OK(slotshift_client_new_with_options(env("SLOTSHIFT_TEST_STANDALONE"), o, &c, &err), err);
    slotshift_client_options_free(o);
    if (c == NULL) return;
    slotshift_recorder *rec = NULL;
    CHECK_OK(slotshift_recorder_start(NULL, 0, &rec), NULL);
    slotshift_reply *r = NULL;
    CHECK_OK(call(c, &r, &err, "SET", "c:rec:1", "x", NULL), err);
    slotshift_reply_free(r);
    CHECK_OK(call(c, &r, &err, "GET", "c:rec:1", NULL), err);
    slotshift_reply_free(r);
    slotshift_pipeline *p = slotshift_pipeline_new();
    const uint8_t *a[2] = {(const uint8_t *)"GET", (const uint8_t *)"other:2"};
    size_t l[2] = {3, 7};
    CHECK_OK(slotshift_pipeline_add(p, a, l, 2), NULL);
    slotshift_replies *rs = NULL;
    CHECK_OK(slotshift_client_pipeline(c, p, &rs, &err), err);
    slotshift_replies_free(rs);
    slotshift_pipeline_free(p);
    CHECK_OK(slotshift_recorder_stop(rec), NULL);
    CHECK_OK(call(c, &r, &err, "GET", "c:rec:1", NULL), err); /* after stop: not recorded */
    slotshift_reply_free(r);
    CHECK(slotshift_recorder_count(rec) == 3);
    size_t n = 0;
    CHECK_OK(slotshift_recorder_count_command(rec, "get", &n), NULL);
    CHECK(n == 2);
    CHECK_OK(slotshift_recorder_count_key(rec, (const uint8_t *)"c:rec:*", 7, &n), NULL);
    CHECK(n == 2);
    slotshift_recorder_free(rec);

    char *text = NULL;
    size_t len = 0;
    CHECK_OK(slotshift_metrics_text(&text, &len), NULL);
    CHECK(text != NULL && len == strlen(text));
    CHECK(text != NULL && strstr(text, "c_recorded") != NULL);
    slotshift_string_free(text);
    slotshift_client_free(c);
}

static void test_analyzer(void) {
    slotshift_error *err = NULL;
    slotshift_client *c = NULL;
    CHECK_OK(slotshift_client_new(env("SLOTSHIFT_TEST_STANDALONE"), &c, &err), err);
    if (c == NULL) return;
    slotshift_pipeline *p = slotshift_pipeline_new();
    char key[64];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "c:an:user:%d", 1000 + i);
        const uint8_t *a[3] = {(const uint8_t *)"SET", (const uint8_t *)key, (const uint8_t *)"v"};
        size_t l[3] = {3, strlen(key), 1};
        CHECK_OK(slotshift_pipeline_add(p, a, l, 3), NULL);
    }
    slotshift_replies *rs = NULL;
    CHECK_OK(slotshift_client_pipeline(c, p, &rs, &err), err);
    slotshift_replies_free(rs);
    slotshift_pipeline_free(p);

    slotshift_analyze_options *o = slotshift_analyze_options_new();
    CHECK_OK(slotshift_analyze_options_set_match(o, (const uint8_t *)"c:an:*", 6), NULL);
    CHECK_OK(slotshift_analyze_options_set_type(o, "string"), NULL);
    CHECK_OK(slotshift_analyze_options_set_count(o, 100), NULL);
    slotshift_report *report = NULL;
    CHECK_OK(slotshift_analyze(c, o, &report, &err), err);
    CHECK(slotshift_report_keys(report) == 50);
    const char *json = NULL;
    size_t len = 0;
    CHECK_OK(slotshift_report_json(report, &json, &len), NULL);
    CHECK(json != NULL && strlen(json) == len);
    CHECK(json != NULL && strstr(json, "\"patterns\"") != NULL);
    CHECK(json != NULL && strstr(json, "c:an:user:1000") == NULL); /* keys masked */
    slotshift_report_free(report);

    /* The analyzer family: COUNT 0 is refused. */
    CHECK_OK(slotshift_analyze_options_set_count(o, 0), NULL);
    report = NULL;
    CHECK_RESULT(slotshift_analyze(c, o, &report, &err), SLOTSHIFT_RESULT_ANALYZER, err);
    CHECK(report == NULL);
    clear_error(&err);
    slotshift_analyze_options_free(o);
    slotshift_client_free(c);
}

/* Diff and migrate, standalone (the second one) -> cluster: keys planted on the source are
 * missing on the destination, a dry run copies nothing, migrate copies them, a second diff
 * finds nothing; the same store on both sides is the migrate family. */
/* The second standalone server (source) and the cluster (destination) of the diff and
 * migrate tests; false (a failure counted) when either cannot be opened. */
static bool source_and_destination(slotshift_client **src, slotshift_client **dst) {
    slotshift_error *err = NULL;
    CHECK_OK(slotshift_client_new(env("SLOTSHIFT_TEST_STANDALONE2"), src, &err), err);
    *dst = cluster_client(&err);
    if (*src == NULL || *dst == NULL) {
        slotshift_client_free(*src);
        slotshift_client_free(*dst);
        clear_error(&err);
        return false;
    }
    return true;
}

static void test_diff_and_migrate(void) {
    slotshift_error *err = NULL;
    slotshift_client *src = NULL, *dst = NULL;
    if (!source_and_destination(&src, &dst)) return;
    char key[64], value[64];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "c:mig:%d", i);
        snprintf(value, sizeof value, "value-%d", i);
        slotshift_reply *r = NULL;
        CHECK_OK(call(src, &r, &err, "SET", key, value, NULL), err);
        slotshift_reply_free(r);
    }
    slotshift_reply *r = NULL;
    CHECK_OK(call(src, &r, &err, "HSET", "c:mig:hash", "f1", "v1", "f2", "v2", NULL), err);
    slotshift_reply_free(r);
    r = NULL;
    CHECK_OK(call(src, &r, &err, "EXPIRE", "c:mig:hash", "3600", NULL), err);
    slotshift_reply_free(r);
    /* Not matched by the pattern: never copied. */
    r = NULL;
    CHECK_OK(call(src, &r, &err, "SET", "c:nomig:1", "x", NULL), err);
    slotshift_reply_free(r);

    slotshift_diff_options *d = slotshift_diff_options_new();
    CHECK_OK(slotshift_diff_options_set_mode(d, "full", &err), err);
    CHECK_OK(slotshift_diff_options_set_match(d, "c:mig:*"), NULL);
    CHECK_OK(slotshift_diff_options_set_rate(d, 0), NULL);
    CHECK_OK(slotshift_diff_options_set_ttl_tolerance_ms(d, 2000), NULL);
    slotshift_diff_report *dr = NULL;
    CHECK_OK(slotshift_diff(src, dst, d, &dr, &err), err);
    CHECK(slotshift_diff_report_differences(dr) == 41);
    const char *json = NULL;
    size_t len = 0;
    CHECK_OK(slotshift_diff_report_json(dr, &json, &len), NULL);
    CHECK(json != NULL && strlen(json) == len);
    CHECK(json != NULL && strstr(json, "\"missing\": 41") != NULL);
    slotshift_diff_report_free(dr);

    /* A dry run reports what it would copy and writes nothing. */
    slotshift_migrate_options *m = slotshift_migrate_options_new();
    CHECK_OK(slotshift_migrate_options_set_match(m, "c:mig:*"), NULL);
    CHECK_OK(slotshift_migrate_options_set_rate(m, 100000), NULL);
    CHECK_OK(slotshift_migrate_options_set_ttl_tolerance_ms(m, 2000), NULL);
    CHECK_OK(slotshift_migrate_options_set_dry_run(m, true), NULL);
    slotshift_migrate_report *mr = NULL;
    CHECK_OK(slotshift_migrate(src, dst, m, &mr, &err), err);
    CHECK(slotshift_migrate_report_copied(mr) == 41);
    json = NULL; /* a failed call leaves it untouched: not the freed report's */
    CHECK_OK(slotshift_migrate_report_json(mr, &json, &len), NULL);
    CHECK(json != NULL && strstr(json, "\"dry_run\": true") != NULL);
    slotshift_migrate_report_free(mr);
    r = NULL;
    CHECK_OK(call(dst, &r, &err, "EXISTS", "c:mig:0", NULL), err);
    int64_t n = -1;
    CHECK_OK(slotshift_reply_integer(r, &n), NULL);
    CHECK(n == 0);
    slotshift_reply_free(r);

    /* The copy. */
    CHECK_OK(slotshift_migrate_options_set_dry_run(m, false), NULL);
    mr = NULL;
    CHECK_OK(slotshift_migrate(src, dst, m, &mr, &err), err);
    CHECK(slotshift_migrate_report_copied(mr) == 41);
    json = NULL; /* a failed call leaves it untouched: not the freed report's */
    CHECK_OK(slotshift_migrate_report_json(mr, &json, &len), NULL);
    CHECK(json != NULL && strlen(json) == len);
    CHECK(json != NULL && strstr(json, "\"dry_run\": false") != NULL);
    slotshift_migrate_report_free(mr);
    r = NULL;
    CHECK_OK(call(dst, &r, &err, "GET", "c:mig:7", NULL), err);
    CHECK(bytes_are(r, "value-7", 7));
    slotshift_reply_free(r);
    r = NULL;
    CHECK_OK(call(dst, &r, &err, "TTL", "c:mig:hash", NULL), err);
    n = -1;
    CHECK_OK(slotshift_reply_integer(r, &n), NULL);
    CHECK(n > 3000 && n <= 3600);
    slotshift_reply_free(r);
    r = NULL;

    /* missing_only: a key the destination has (written there since) is kept, not replaced. */
    CHECK_OK(call(dst, &r, &err, "SET", "c:mig:7", "newer", NULL), err);
    slotshift_reply_free(r);
    r = NULL;
    CHECK_OK(call(src, &r, &err, "SET", "c:mig:7", "older", NULL), err);
    slotshift_reply_free(r);
    r = NULL;
    CHECK_OK(slotshift_migrate_options_set_missing_only(m, true), NULL);
    mr = NULL;
    CHECK_OK(slotshift_migrate(src, dst, m, &mr, &err), err);
    CHECK(slotshift_migrate_report_copied(mr) == 0);
    json = NULL;
    CHECK_OK(slotshift_migrate_report_json(mr, &json, &len), NULL);
    CHECK(json != NULL && strstr(json, "\"kept\": 1") != NULL);
    slotshift_migrate_report_free(mr);
    CHECK_OK(call(dst, &r, &err, "GET", "c:mig:7", NULL), err);
    CHECK(bytes_are(r, "newer", 5));
    slotshift_reply_free(r);
    r = NULL;
    CHECK_OK(slotshift_migrate_options_set_missing_only(m, false), NULL);
    CHECK_RESULT(slotshift_migrate_options_set_missing_only(NULL, true), SLOTSHIFT_RESULT_NULL_PARAMETER, NULL);
    slotshift_client *both[2] = {src, dst};
    for (int i = 0; i < 2; i++) { /* the same again on both sides, for the diff below */
        CHECK_OK(call(both[i], &r, &err, "SET", "c:mig:7", "value-7", NULL), err);
        slotshift_reply_free(r);
        r = NULL;
    }
    CHECK_OK(call(dst, &r, &err, "EXISTS", "c:nomig:1", NULL), err);
    n = -1;
    CHECK_OK(slotshift_reply_integer(r, &n), NULL);
    CHECK(n == 0);
    slotshift_reply_free(r);

    /* Nothing left to find, in each mode. */
    const char *modes[] = {"full", "length", "outline"};
    for (size_t i = 0; i < 3; i++) {
        CHECK_OK(slotshift_diff_options_set_mode(d, modes[i], &err), err);
        dr = NULL;
        CHECK_OK(slotshift_diff(src, dst, d, &dr, &err), err);
        CHECK(dr != NULL && slotshift_diff_report_differences(dr) == 0);
        slotshift_diff_report_free(dr);
    }

    /* The migrate family: the same store on both sides, and an unknown mode. */
    dr = NULL;
    CHECK_RESULT(slotshift_diff(src, src, d, &dr, &err), SLOTSHIFT_RESULT_MIGRATE, err);
    CHECK(dr == NULL);
    CHECK(err != NULL && slotshift_error_result(err) == SLOTSHIFT_RESULT_MIGRATE);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "same store") != NULL);
    clear_error(&err);
    mr = NULL;
    CHECK_RESULT(slotshift_migrate(dst, dst, NULL, &mr, &err), SLOTSHIFT_RESULT_MIGRATE, err);
    CHECK(mr == NULL);
    clear_error(&err);
    CHECK_RESULT(slotshift_diff_options_set_mode(d, "deep", &err), SLOTSHIFT_RESULT_MIGRATE, err);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "deep") != NULL);
    clear_error(&err);

    /* NULL parameters. */
    CHECK_RESULT(slotshift_diff(NULL, dst, d, &dr, &err), SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    clear_error(&err);
    CHECK_RESULT(slotshift_migrate(src, NULL, m, &mr, NULL), SLOTSHIFT_RESULT_NULL_PARAMETER, NULL);
    CHECK_RESULT(slotshift_migrate(src, dst, m, NULL, NULL), SLOTSHIFT_RESULT_NULL_PARAMETER, NULL);
    CHECK_RESULT(slotshift_diff_options_set_mode(NULL, "full", NULL), SLOTSHIFT_RESULT_NULL_PARAMETER, NULL);
    CHECK_RESULT(slotshift_diff_options_set_mode(d, NULL, NULL), SLOTSHIFT_RESULT_NULL_PARAMETER, NULL);
    CHECK_RESULT(slotshift_migrate_options_set_dry_run(NULL, true), SLOTSHIFT_RESULT_NULL_PARAMETER, NULL);
    CHECK_RESULT(slotshift_diff_report_json(NULL, &json, &len), SLOTSHIFT_RESULT_NULL_PARAMETER, NULL);
    CHECK(slotshift_diff_report_differences(NULL) == 0);
    CHECK(slotshift_migrate_report_copied(NULL) == 0);
    /* NULL clears a filter. */
    CHECK_OK(slotshift_migrate_options_set_type(m, NULL), NULL);
    slotshift_diff_options_free(NULL);
    slotshift_migrate_options_free(NULL);
    slotshift_diff_report_free(NULL);
    slotshift_migrate_report_free(NULL);

    slotshift_diff_options_free(d);
    slotshift_migrate_options_free(m);
    slotshift_client_free(src);
    slotshift_client_free(dst);
}

/* Two threads (processes or machines alike) share one migration through a coordinator. */
struct sharer {
    const slotshift_client *src, *dst;
    const char *job;
    slotshift_result result;
    uint64_t copied;
    char json[4096];
};

static void *share(void *arg) {
    struct sharer *s = arg;
    slotshift_migrate_options *m = slotshift_migrate_options_new();
    if (slotshift_migrate_options_set_match(m, "c:share:*") != SLOTSHIFT_RESULT_OK) return NULL;
    slotshift_migrate_report *mr = NULL;
    s->result = slotshift_migrate_shared(s->src, s->dst, s->dst, s->job, m, &mr, NULL);
    if (s->result == SLOTSHIFT_RESULT_OK) {
        s->copied = slotshift_migrate_report_copied(mr);
        const char *json = NULL;
        size_t len = 0;
        if (slotshift_migrate_report_json(mr, &json, &len) == SLOTSHIFT_RESULT_OK)
            snprintf(s->json, sizeof s->json, "%s", json);
    }
    slotshift_migrate_report_free(mr);
    slotshift_migrate_options_free(m);
    return NULL;
}

static void test_shared_jobs(void) {
    slotshift_error *err = NULL;
    slotshift_client *src = NULL, *dst = NULL;
    if (!source_and_destination(&src, &dst)) return;
    char key[64], job[64], tag[96];
    snprintf(job, sizeof job, "c-share-%ld", (long)getpid());
    slotshift_reply *r = NULL;
    for (int i = 0; i < 60; i++) {
        snprintf(key, sizeof key, "c:share:%d", i);
        CHECK_OK(call(src, &r, &err, "SET", key, "v", NULL), err);
        slotshift_reply_free(r);
        r = NULL;
    }
    pthread_t threads[2];
    struct sharer sharers[2];
    for (int i = 0; i < 2; i++) {
        sharers[i] = (struct sharer){.src = src, .dst = dst, .job = job, .result = SLOTSHIFT_RESULT_OK};
        CHECK(pthread_create(&threads[i], NULL, share, &sharers[i]) == 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(threads[i], NULL);
        CHECK(sharers[i].result == SLOTSHIFT_RESULT_OK);
        CHECK(sharers[i].copied == 60); /* the merged report: every range, whoever copied it */
    }
    CHECK(strcmp(sharers[0].json, sharers[1].json) == 0);
    CHECK(strstr(sharers[0].json, "\"complete\": true") != NULL);

    /* A shared diff finds nothing; the job name is checked, NULLs are named. */
    slotshift_diff_options *d = slotshift_diff_options_new();
    CHECK_OK(slotshift_diff_options_set_match(d, "c:share:*"), NULL);
    snprintf(tag, sizeof tag, "%s-check", job);
    slotshift_diff_report *dr = NULL;
    CHECK_OK(slotshift_diff_shared(src, dst, dst, tag, d, &dr, &err), err);
    CHECK(dr != NULL && slotshift_diff_report_differences(dr) == 0);
    slotshift_diff_report_free(dr);
    dr = NULL;
    CHECK_RESULT(slotshift_diff_shared(src, dst, dst, "no way", d, &dr, &err), SLOTSHIFT_RESULT_MIGRATE, err);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "invalid job") != NULL);
    clear_error(&err);
    CHECK_RESULT(slotshift_diff_shared(src, dst, NULL, job, d, &dr, &err), SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "coordinator") != NULL);
    clear_error(&err);
    slotshift_migrate_report *mr = NULL;
    CHECK_RESULT(slotshift_migrate_shared(src, dst, dst, NULL, NULL, &mr, NULL), SLOTSHIFT_RESULT_NULL_PARAMETER, NULL);
    CHECK(dr == NULL && mr == NULL);
    slotshift_diff_options_free(d);

    /* A shared analysis (one process here) counts what one plain analysis counts. */
    char walk[96];
    snprintf(walk, sizeof walk, "%s-analyze", job);
    slotshift_analyze_options *a = slotshift_analyze_options_new();
    CHECK_OK(slotshift_analyze_options_set_match(a, (const uint8_t *)"c:share:*", 9), NULL);
    slotshift_report *shared_report = NULL, *plain_report = NULL;
    CHECK_OK(slotshift_analyze_shared(src, dst, walk, a, &shared_report, &err), err);
    CHECK_OK(slotshift_analyze(src, a, &plain_report, &err), err);
    CHECK(slotshift_report_keys(shared_report) == 60);
    CHECK(slotshift_report_keys(plain_report) == 60);
    slotshift_report_free(shared_report);
    slotshift_report_free(plain_report);
    shared_report = NULL;
    CHECK_RESULT(slotshift_analyze_shared(src, NULL, walk, a, &shared_report, &err), SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "coordinator") != NULL);
    clear_error(&err);
    CHECK_RESULT(slotshift_analyze_shared(src, dst, NULL, a, &shared_report, &err), SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "job") != NULL);
    clear_error(&err);
    CHECK(shared_report == NULL);
    slotshift_analyze_options_free(a);

    /* The jobs' records stay on the coordinator (here the destination) until deleted. */
    const char *suffix[] = {"job", "done"};
    const char *names[] = {job, tag, walk};
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < 2; k++) {
            char name[160];
            snprintf(name, sizeof name, "slotshift:job:{%s}:%s", names[j], suffix[k]);
            CHECK_OK(call(dst, &r, &err, "DEL", name, NULL), err);
            int64_t n = -1;
            CHECK_OK(slotshift_reply_integer(r, &n), NULL);
            CHECK(n == 1);
            slotshift_reply_free(r);
            r = NULL;
        }
    for (int i = 0; i < 60; i++) {
        snprintf(key, sizeof key, "c:share:%d", i);
        CHECK_OK(call(dst, &r, &err, "DEL", key, NULL), err);
        slotshift_reply_free(r);
        r = NULL;
    }
    slotshift_client_free(src);
    slotshift_client_free(dst);
}

/* One client shared by four threads at once (clients are thread-safe), each with its own
 * allow scope and recorder (both belong to the calling thread). */
struct worker {
    const slotshift_client *client;
    int id;
    int ok;
    size_t recorded;
    bool allowed_elsewhere;
};

static void *work(void *arg) {
    struct worker *w = arg;
    slotshift_recorder *rec = NULL;
    if (slotshift_recorder_start(NULL, 0, &rec) != SLOTSHIFT_RESULT_OK) return NULL;
    if (w->id == 0) slotshift_validator_allow_enter();
    char key[32], value[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "c:thread:%d:%d", w->id, i);
        snprintf(value, sizeof value, "%d-%d", w->id, i);
        slotshift_reply *r = NULL;
        if (call(w->client, &r, NULL, "SET", key, value, NULL) == SLOTSHIFT_RESULT_OK) {
            slotshift_reply_free(r);
            r = NULL;
            if (call(w->client, &r, NULL, "GET", key, NULL) == SLOTSHIFT_RESULT_OK &&
                bytes_are(r, value, strlen(value)))
                w->ok++;
        }
        slotshift_reply_free(r);
    }
    if (w->id == 0) slotshift_validator_allow_exit();
    else w->allowed_elsewhere = slotshift_validator_is_allowed();
    w->recorded = slotshift_recorder_count(rec);
    slotshift_recorder_free(rec);
    return NULL;
}

static void test_threads(void) {
    slotshift_error *err = NULL;
    slotshift_client *c = cluster_client(&err);
    if (c == NULL) return;
    pthread_t threads[4];
    struct worker workers[4];
    for (int i = 0; i < 4; i++) {
        workers[i] = (struct worker){.client = c, .id = i, .ok = 0, .recorded = 0, .allowed_elsewhere = false};
        CHECK(pthread_create(&threads[i], NULL, work, &workers[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        CHECK(workers[i].ok == 100);
        CHECK(workers[i].recorded == 200); /* its own 200 commands, none of the others' */
        CHECK(!workers[i].allowed_elsewhere);
    }
    slotshift_client_free(c);
}

/* Text arguments (NULL-terminated list) into a pipeline. */
static void pipeline_add_text(slotshift_pipeline *p, ...) {
    const uint8_t *argv[16];
    size_t lens[16];
    size_t argc = 0;
    va_list ap;
    va_start(ap, p);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 16) {
        argv[argc] = (const uint8_t *)a;
        lens[argc] = strlen(a);
        argc++;
    }
    va_end(ap);
    CHECK_OK(slotshift_pipeline_add(p, argv, lens, argc), NULL);
}

/* Whether `message` is the array [kind, a, b] (b an integer when `count` >= 0). */
static bool message_is(const slotshift_reply *message, const char *kind, const char *a,
                       const char *b, long count) {
    const slotshift_reply *el[3] = {NULL, NULL, NULL};
    if (message == NULL || slotshift_reply_len(message) != 3) return false;
    for (size_t i = 0; i < 3; i++)
        if (slotshift_reply_element(message, i, &el[i]) != SLOTSHIFT_RESULT_OK) return false;
    int64_t n = -1;
    bool last = count >= 0 ? slotshift_reply_integer(el[2], &n) == SLOTSHIFT_RESULT_OK && n == count
                           : bytes_are(el[2], b, strlen(b));
    return bytes_are(el[0], kind, strlen(kind)) && bytes_are(el[1], a, strlen(a)) && last;
}

static void test_sessions_and_subscribers(void) {
    slotshift_error *err = NULL;
    slotshift_client *c = cluster_client(&err);
    if (c == NULL) return;
    slotshift_reply *r = NULL;
    const char *key = "c:session:{7}";

    /* WATCH on the key's master, a write from the client in between: EXEC runs nothing. */
    slotshift_session *s = NULL;
    CHECK_OK(slotshift_session_open(c, (const uint8_t *)key, strlen(key), &s, &err), err);
    CHECK(slotshift_session_is_open(s));
    const uint8_t *watch[2] = {(const uint8_t *)"WATCH", (const uint8_t *)key};
    size_t watch_len[2] = {5, strlen(key)};
    CHECK_OK(slotshift_session_call(s, watch, watch_len, 2, &r, &err), err);
    slotshift_reply_free(r);
    r = NULL;
    CHECK_OK(call(c, &r, &err, "SET", key, "theirs", NULL), err);
    slotshift_reply_free(r);
    r = NULL;
    slotshift_pipeline *p = slotshift_pipeline_new();
    pipeline_add_text(p, "MULTI", NULL);
    pipeline_add_text(p, "SET", key, "mine", NULL);
    pipeline_add_text(p, "EXEC", NULL);
    slotshift_replies *rs = NULL;
    CHECK_OK(slotshift_session_pipeline(s, p, &rs, &err), err);
    const slotshift_reply *exec = NULL;
    CHECK_OK(slotshift_replies_get(rs, 2, &exec, &err), err);
    CHECK(slotshift_reply_type(exec) == SLOTSHIFT_VALUE_TYPE_NIL);
    slotshift_replies_free(rs);
    rs = NULL;
    CHECK_OK(call(c, &r, &err, "GET", key, NULL), err);
    CHECK(bytes_are(r, "theirs", 6));
    slotshift_reply_free(r);
    r = NULL;
    /* Without a write in between it runs. */
    CHECK_OK(slotshift_session_call(s, watch, watch_len, 2, &r, &err), err);
    slotshift_reply_free(r);
    r = NULL;
    CHECK_OK(slotshift_session_pipeline(s, p, &rs, &err), err);
    CHECK_OK(slotshift_replies_get(rs, 2, &exec, &err), err);
    CHECK(slotshift_reply_type(exec) == SLOTSHIFT_VALUE_TYPE_ARRAY && slotshift_reply_len(exec) == 1);
    slotshift_replies_free(rs);
    rs = NULL;
    /* An error reply leaves it open; a close is final and says so. */
    const uint8_t *incr[2] = {(const uint8_t *)"INCR", (const uint8_t *)key};
    size_t incr_len[2] = {4, strlen(key)};
    CHECK_RESULT(slotshift_session_call(s, incr, incr_len, 2, &r, &err), SLOTSHIFT_RESULT_SERVER, err);
    CHECK(r == NULL);
    clear_error(&err);
    CHECK(slotshift_session_is_open(s));
    slotshift_session_close(s);
    CHECK(!slotshift_session_is_open(s));
    CHECK_RESULT(slotshift_session_call(s, watch, watch_len, 2, &r, &err),
                 SLOTSHIFT_RESULT_CONNECTION_IO, err);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "closed") != NULL);
    clear_error(&err);
    slotshift_session_free(s);
    slotshift_pipeline_free(p);

    /* Shard pub/sub on the channel's master; SPUBLISH through the client goes there too. */
    const char *channel = "c:orders:{7}";
    slotshift_subscriber *sub = NULL;
    CHECK_OK(slotshift_subscriber_open(c, (const uint8_t *)channel, strlen(channel), &sub, &err), err);
    const uint8_t *names[1] = {(const uint8_t *)channel};
    size_t names_len[1] = {strlen(channel)};
    CHECK_OK(slotshift_subscriber_subscribe(sub, SLOTSHIFT_SUBSCRIPTION_SHARD, names, names_len, 1, &err), err);
    CHECK_OK(call(c, &r, &err, "SPUBLISH", channel, "paid", NULL), err);
    slotshift_reply_free(r);
    r = NULL;
    CHECK_OK(slotshift_subscriber_next_message(sub, 5000, &r, &err), err);
    CHECK(message_is(r, "ssubscribe", channel, NULL, 1));
    slotshift_reply_free(r);
    r = NULL;
    CHECK_OK(slotshift_subscriber_next_message(sub, 5000, &r, &err), err);
    CHECK(message_is(r, "smessage", channel, "paid", -1));
    slotshift_reply_free(r);
    r = NULL;
    /* Nothing more within 50 ms: OK with no message. */
    r = (slotshift_reply *)&r; /* must be overwritten with NULL */
    CHECK_OK(slotshift_subscriber_next_message(sub, 50, &r, &err), err);
    CHECK(r == NULL);
    CHECK_OK(slotshift_subscriber_unsubscribe(sub, SLOTSHIFT_SUBSCRIPTION_SHARD, NULL, NULL, 0, &err), err);
    CHECK_OK(slotshift_subscriber_next_message(sub, 5000, &r, &err), err);
    CHECK(message_is(r, "sunsubscribe", channel, NULL, 0));
    slotshift_reply_free(r);
    r = NULL;
    /* Bad arguments are named. */
    CHECK_RESULT(slotshift_subscriber_subscribe(sub, SLOTSHIFT_SUBSCRIPTION_CHANNEL, NULL, names_len, 1, &err),
                 SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "`names`") != NULL);
    clear_error(&err);
    const uint8_t *holes[1] = {NULL};
    CHECK_RESULT(slotshift_subscriber_subscribe(sub, SLOTSHIFT_SUBSCRIPTION_CHANNEL, holes, names_len, 1, &err),
                 SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "names[0] is NULL") != NULL);
    clear_error(&err);
    CHECK_RESULT(slotshift_subscriber_subscribe(sub, SLOTSHIFT_SUBSCRIPTION_CHANNEL, NULL, NULL, 0, &err),
                 SLOTSHIFT_RESULT_SERVER, err);
    clear_error(&err);
    CHECK_RESULT(slotshift_session_open(NULL, NULL, 0, &s, &err), SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    clear_error(&err);
    CHECK_RESULT(slotshift_session_open(c, NULL, 3, &s, &err), SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "`key`") != NULL);
    clear_error(&err);
    CHECK(!slotshift_session_is_open(NULL));
    slotshift_session_free(NULL);
    slotshift_subscriber_free(NULL);
    /* The subscriber outlives its client. */
    slotshift_client_free(c);
    CHECK_OK(slotshift_subscriber_next_message(sub, 10, &r, &err), err);
    CHECK(r == NULL);
    slotshift_subscriber_free(sub);
}

/* The scripted hostile nodes (`slotshift servers up --hostile`): what a real server never
 * sends. Each call ends in a clear error within the URL's timeouts (300 ms per reply, 1 s in all), nothing leaks (the
 * suite runs under valgrind), and the client answers the next call the same way. */
static void test_hostile_servers(void) {
    char list[4096];
    snprintf(list, sizeof list, "%s", env("SLOTSHIFT_TEST_HOSTILE"));
    int seen = 0;
    for (char *save = NULL, *pair = strtok_r(list, " ", &save); pair != NULL;
         pair = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(pair, '=');
        CHECK(eq != NULL);
        if (eq == NULL) continue;
        *eq = '\0';
        const char *name = pair;
        char url[512];
        snprintf(url, sizeof url, "%s?connect_timeout=300ms&command_timeout=300ms&retry_deadline=1s", eq + 1);
        slotshift_error *err = NULL;
        slotshift_client *c = NULL;
        slotshift_result r = slotshift_client_new(url, &c, &err);
        if (r != SLOTSHIFT_RESULT_OK) {
            /* Refusing at connect is a clear error too. */
            CHECK(err != NULL && strlen(slotshift_error_message(err)) > 0);
            fprintf(stderr, "hostile %s: refused at connect: %s\n", name,
                    err != NULL ? slotshift_error_message(err) : "");
            clear_error(&err);
            seen++;
            continue;
        }
        for (int round = 0; round < 2; round++) {
            slotshift_reply *reply = NULL;
            r = call(c, &reply, &err, "GET", "k", NULL);
            CHECK(r != SLOTSHIFT_RESULT_OK && reply == NULL);
            unsigned family = (unsigned)r / 100 * 100;
            CHECK(family == SLOTSHIFT_RESULT_SERVER || family == SLOTSHIFT_RESULT_CONNECTION ||
                  family == SLOTSHIFT_RESULT_ROUTING);
            CHECK(err != NULL && strlen(slotshift_error_message(err)) > 0);
            if (round == 0)
                fprintf(stderr, "hostile %s: %u %s\n", name, (unsigned)r,
                        err != NULL ? slotshift_error_message(err) : "");
            clear_error(&err);
        }
        slotshift_client_free(c);
        seen++;
    }
    CHECK(seen == 9);
}

/* A stopped server (SIGSTOP): a GET with a 300 ms reply timeout ends in
 * SLOTSHIFT_RESULT_CONNECTION_TIMEOUT (the elapsed time is printed, not asserted), and the same
 * client answers again once the server runs (SIGCONT). */
static void test_stopped_server(void) {
    char url[512];
    snprintf(url, sizeof url, "%s?connect_timeout=300ms&command_timeout=300ms&retry_deadline=1s",
             env("SLOTSHIFT_TEST_STANDALONE2"));
    slotshift_error *err = NULL;
    slotshift_client *c = NULL;
    CHECK_OK(slotshift_client_new(url, &c, &err), err);
    if (c == NULL) return;
    slotshift_reply *reply = NULL;
    CHECK_OK(call(c, &reply, &err, "SET", "c:stopped", "v", NULL), err);
    slotshift_reply_free(reply);
    reply = NULL;
    long pid = 0;
    CHECK_OK(call(c, &reply, &err, "INFO", "server", NULL), err);
    const uint8_t *info = NULL;
    size_t info_len = 0;
    if (reply != NULL && slotshift_reply_bytes(reply, &info, &info_len) == SLOTSHIFT_RESULT_OK) {
        char text[8192];
        size_t n = info_len < sizeof text - 1 ? info_len : sizeof text - 1;
        memcpy(text, info, n);
        text[n] = '\0';
        const char *at = strstr(text, "process_id:");
        if (at != NULL) pid = strtol(at + strlen("process_id:"), NULL, 10);
    }
    slotshift_reply_free(reply);
    reply = NULL;
    CHECK(pid > 0);
    if (pid <= 0) {
        slotshift_client_free(c);
        return;
    }
    CHECK(kill((pid_t)pid, SIGSTOP) == 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    slotshift_result r = call(c, &reply, &err, "GET", "c:stopped", NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(kill((pid_t)pid, SIGCONT) == 0);
    CHECK(r == SLOTSHIFT_RESULT_CONNECTION_TIMEOUT && reply == NULL);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "timed out") != NULL);
    fprintf(stderr, "stopped server: %u after %.3f s: %s\n", (unsigned)r,
            (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
            err != NULL ? slotshift_error_message(err) : "");
    clear_error(&err);
    CHECK_OK(call(c, &reply, &err, "GET", "c:stopped", NULL), err);
    CHECK(reply != NULL && bytes_are(reply, "v", 1));
    slotshift_reply_free(reply);
    slotshift_client_free(c);
}

/* The application's flags for test_multistore_flag_callback: what the callback answers. */
struct app_flags {
    bool dual_write;
    bool primary_default;
    bool fail;
    int asked;
};

static int32_t app_flag(void *user_data, const char *flag, bool *enabled) {
    struct app_flags *f = user_data;
    f->asked++;
    if (f->fail) return 7;
    if (strstr(flag, "use_primary_and_secondary_stores_for_") == flag)
        *enabled = f->dual_write;
    else if (strstr(flag, "use_primary_store_as_default_for_") == flag)
        *enabled = f->primary_default;
    else
        return 1;
    return 0;
}

/* A MultiStore whose flags the application answers (GitLab: Feature.enabled?). */
static void test_multistore_flag_callback(void) {
    slotshift_error *err = NULL;
    slotshift_client *primary = NULL, *secondary = NULL;
    CHECK_OK(slotshift_client_new(env("SLOTSHIFT_TEST_STANDALONE"), &primary, &err), err);
    CHECK_OK(slotshift_client_new(env("SLOTSHIFT_TEST_STANDALONE2"), &secondary, &err), err);
    if (primary == NULL || secondary == NULL) {
        slotshift_client_free(primary);
        slotshift_client_free(secondary);
        clear_error(&err);
        return;
    }
    struct app_flags flags = {false, false, false, 0};
    slotshift_multistore *ms = NULL;
    CHECK_RESULT(slotshift_multistore_new_with_flag_callback("CFlags", primary, secondary, NULL,
                                                             &flags, 0, &ms, &err),
                 SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    clear_error(&err);
    flags.fail = true;
    CHECK_RESULT(slotshift_multistore_new_with_flag_callback("CFlags", primary, secondary,
                                                             app_flag, &flags, 0, &ms, &err),
                 SLOTSHIFT_RESULT_MULTISTORE, err);
    CHECK(err != NULL && strstr(slotshift_error_message(err), "returned 7") != NULL);
    CHECK(ms == NULL);
    clear_error(&err);
    flags.fail = false;
    CHECK_OK(slotshift_multistore_new_with_flag_callback("CFlags", primary, secondary, app_flag,
                                                         &flags, 0, &ms, &err),
             err);
    if (ms == NULL) goto done;
    CHECK(flags.asked >= 2);
    slotshift_reply *r = NULL;
    /* Both flags off: the secondary only. */
    CHECK_OK(ms_call(ms, &r, &err, "SET", "c:flags:1", "old-only"), err);
    slotshift_reply_free(r);
    r = NULL;
    CHECK_OK(call(primary, &r, &err, "EXISTS", "c:flags:1", NULL), err);
    int64_t n = -1;
    CHECK(slotshift_reply_integer(r, &n) == SLOTSHIFT_RESULT_OK && n == 0);
    slotshift_reply_free(r);
    r = NULL;
    /* The application turns dual-write on: the next write reaches the primary too. */
    flags.dual_write = true;
    CHECK_OK(ms_call(ms, &r, &err, "SET", "c:flags:2", "both"), err);
    slotshift_reply_free(r);
    r = NULL;
    CHECK_OK(call(primary, &r, &err, "GET", "c:flags:2", NULL), err);
    CHECK(bytes_are(r, "both", 4));
    slotshift_reply_free(r);
    r = NULL;
    bool dual = false, primary_default = true;
    CHECK_OK(slotshift_multistore_flags(ms, &dual, &primary_default), NULL);
    CHECK(dual && !primary_default);
    /* The flags are the application's: setting them here is refused. */
    CHECK_RESULT(slotshift_multistore_set_flags(ms, false, false, &err), SLOTSHIFT_RESULT_MULTISTORE,
                 err);
    clear_error(&err);
    /* A failing callback keeps the last answers. */
    flags.fail = true;
    CHECK_OK(ms_call(ms, &r, &err, "SET", "c:flags:3", "still-both"), err);
    slotshift_reply_free(r);
    r = NULL;
    CHECK_OK(call(primary, &r, &err, "GET", "c:flags:3", NULL), err);
    CHECK(bytes_are(r, "still-both", 10));
    slotshift_reply_free(r);
    slotshift_multistore_free(ms);
done:
    slotshift_client_free(primary);
    slotshift_client_free(secondary);
}

/* One request's log fields: a scope counts only its thread's calls. */
static void test_request_scope(void) {
    slotshift_error *err = NULL;
    slotshift_client_options *o = slotshift_client_options_new();
    CHECK_OK(slotshift_client_options_set_name(o, "CScope"), NULL);
    CHECK_OK(slotshift_client_options_set_client_name(o, "c-scope-test"), NULL);
    slotshift_client *c = NULL;
    CHECK_OK(slotshift_client_new_with_options(env("SLOTSHIFT_TEST_STANDALONE"), o, &c, &err), err);
    slotshift_client_options_free(o);
    if (c == NULL) {
        clear_error(&err);
        return;
    }
    slotshift_reply *r = NULL;
    CHECK_OK(call(c, &r, &err, "SET", "c:scope", "v", NULL), err); /* before: not counted */
    slotshift_reply_free(r);
    /* Every connection names itself. */
    r = NULL;
    CHECK_OK(call(c, &r, &err, "CLIENT", "GETNAME", NULL), err);
    CHECK(bytes_are(r, "c-scope-test", 12));
    slotshift_reply_free(r);
    slotshift_request_scope *scope = slotshift_request_scope_begin();
    CHECK(scope != NULL);
    for (int i = 0; i < 3; i++) {
        r = NULL;
        CHECK_OK(call(c, &r, &err, "GET", "c:scope", NULL), err);
        slotshift_reply_free(r);
    }
    char *json = NULL;
    size_t len = 0;
    CHECK_OK(slotshift_request_scope_fields_json(scope, &json, &len), NULL);
    CHECK(json != NULL && strlen(json) == len);
    CHECK(json != NULL && strstr(json, "\"redis_calls\":3") != NULL);
    CHECK(json != NULL && strstr(json, "\"redis_cscope_calls\":3") != NULL);
    CHECK(json != NULL && strstr(json, "\"redis_cscope_read_bytes\":3") != NULL);
    slotshift_string_free(json);
    CHECK_RESULT(slotshift_request_scope_fields_json(NULL, &json, &len), SLOTSHIFT_RESULT_NULL_PARAMETER,
                 NULL);
    slotshift_request_scope_end(scope);
    slotshift_request_scope_end(NULL);
    slotshift_client_free(c);
}

/* MONITOR on a connection of its own, QUIT on the client's connections (the next command
 * reconnects), and the core's log records queued for the program. */
static void test_monitor_quit_and_log(void) {
    slotshift_error *err = NULL;
    slotshift_client *c = NULL;
    CHECK_OK(slotshift_client_new(env("SLOTSHIFT_TEST_STANDALONE"), &c, &err), err);
    if (c == NULL) {
        clear_error(&err);
        return;
    }
    slotshift_reply *r = NULL;
    slotshift_monitor *m = NULL;
    CHECK_OK(slotshift_monitor_open(c, NULL, 0, &m, &err), err);
    CHECK_OK(call(c, &r, &err, "SET", "c:monitored", "1", NULL), err);
    slotshift_reply_free(r);
    int seen = 0;
    for (int i = 0; i < 50 && !seen; i++) {
        r = NULL;
        CHECK_OK(slotshift_monitor_next_line(m, 5000, &r, &err), err);
        if (r == NULL) break;
        size_t len = 0;
        const uint8_t *line = NULL;
        CHECK_OK(slotshift_reply_bytes(r, &line, &len), NULL);
        seen = bytes_contain(line, len, "\"SET\" \"c:monitored\" \"1\"");
        slotshift_reply_free(r);
    }
    CHECK(seen);
    CHECK_RESULT(slotshift_monitor_next_line(NULL, 0, &r, &err), SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    clear_error(&err);
    slotshift_monitor_free(m);
    slotshift_monitor_free(NULL);

    /* QUIT: another connection (client id) afterwards, and the client still answers. */
    r = NULL;
    CHECK_OK(call(c, &r, &err, "CLIENT", "ID", NULL), err);
    int64_t before = 0, after = 0;
    CHECK_OK(slotshift_reply_integer(r, &before), NULL);
    slotshift_reply_free(r);
    CHECK_OK(slotshift_client_quit(c, &err), err);
    r = NULL;
    CHECK_OK(call(c, &r, &err, "CLIENT", "ID", NULL), err);
    CHECK_OK(slotshift_reply_integer(r, &after), NULL);
    slotshift_reply_free(r);
    CHECK(before != after);
    CHECK_RESULT(slotshift_client_quit(NULL, &err), SLOTSHIFT_RESULT_NULL_PARAMETER, err);
    clear_error(&err);

    /* The log queue: a MultiStore over one server warns that dual-write stays off. */
    CHECK_RESULT(slotshift_log_enable("loud", &err), SLOTSHIFT_RESULT_INVALID_ARGUMENT, err);
    clear_error(&err);
    CHECK_OK(slotshift_log_enable("warn", &err), err);
    slotshift_multistore *ms = NULL;
    CHECK_OK(slotshift_multistore_new("c-logged", c, c, true, false, &ms, &err), err);
    if (ms != NULL) {
        r = NULL;
        const uint8_t *set[3] = {(const uint8_t *)"SET", (const uint8_t *)"c:logged", (const uint8_t *)"1"};
        size_t set_len[3] = {3, 8, 1};
        CHECK_OK(slotshift_multistore_call(ms, set, set_len, 3, &r, &err), err);
        slotshift_reply_free(r);
    }
    int warned = 0;
    for (int i = 0; i < 20 && !warned; i++) {
        r = NULL;
        CHECK_OK(slotshift_log_next(5000, &r, &err), err);
        if (r == NULL) break;
        const slotshift_reply *level = NULL, *message = NULL;
        CHECK_OK(slotshift_reply_element(r, 0, &level), NULL);
        CHECK_OK(slotshift_reply_element(r, 2, &message), NULL);
        size_t llen = 0, mlen = 0;
        const uint8_t *l = NULL, *msg = NULL;
        CHECK_OK(slotshift_reply_bytes(level, &l, &llen), NULL);
        CHECK_OK(slotshift_reply_bytes(message, &msg, &mlen), NULL);
        warned = l != NULL && llen == 4 && memcmp(l, "warn", 4) == 0 &&
                 bytes_contain(msg, mlen, "primary and secondary are the same server");
        slotshift_reply_free(r);
    }
    CHECK(warned);
    CHECK_OK(slotshift_log_enable(NULL, &err), err);
    slotshift_multistore_free(ms);
    slotshift_client_free(c);
}

static void test_panic_guard(void) {
#if defined(SLOTSHIFT_TEST_HOOKS)
    CHECK_RESULT(slotshift_test_panic(), SLOTSHIFT_RESULT_PANIC, NULL);
    CHECK_RESULT(slotshift_test_panic(), SLOTSHIFT_RESULT_PANIC, NULL);
    /* The process lives and the library still works. */
    CHECK(slotshift_key_slot((const uint8_t *)"123456789", 9) == 12739);
#else
    fprintf(stderr, "built without SLOTSHIFT_TEST_HOOKS\n");
    CHECK(0);
#endif
}

/* Runs one test and prints how long it took and how many of its checks failed, so a slow or
 * failing step stands out in a CI log that keeps only part of the output. */
#define RUN(test)                                                                        \
    do {                                                                                 \
        struct timespec t0_, t1_;                                                        \
        int failures_ = check_failures;                                                  \
        clock_gettime(CLOCK_MONOTONIC, &t0_);                                            \
        test();                                                                          \
        clock_gettime(CLOCK_MONOTONIC, &t1_);                                            \
        fprintf(stderr, "%-32s %7.2f s, %d failed\n", #test,                            \
                (double)(t1_.tv_sec - t0_.tv_sec) + (t1_.tv_nsec - t0_.tv_nsec) / 1e9,  \
                check_failures - failures_);                                             \
    } while (0)

int main(void) {
    RUN(test_version);
    RUN(test_result_messages);
    RUN(test_errors_fixture);
    RUN(test_slots_fixture);
    RUN(test_null_parameters);
    RUN(test_bad_urls);
    RUN(test_standalone);
    RUN(test_cluster);
    RUN(test_all_shards);
    RUN(test_sentinel);
    RUN(test_multistore);
    RUN(test_shutdown_order);
    RUN(test_multistore_flag_callback);
    RUN(test_request_scope);
    RUN(test_validator);
    RUN(test_metrics_and_recorder);
    RUN(test_analyzer);
    RUN(test_diff_and_migrate);
    RUN(test_shared_jobs);
    RUN(test_threads);
    RUN(test_sessions_and_subscribers);
    RUN(test_hostile_servers);
    RUN(test_stopped_server);
    RUN(test_monitor_quit_and_log);
    RUN(test_panic_guard);
    printf("%d checks, %d failed\n", check_count, check_failures);
    return check_failures == 0 ? 0 : 1;
}
