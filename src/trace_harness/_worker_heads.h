/* Record heads of the aiops worker log, for `_worker_native.c`: the character classes, the failure record
 * start and the canonical head of `evidence/worker_rows.py`, matched over one line's bytes. Every read is
 * bounded by the line's end. */
#ifndef TRACE_HARNESS_WORKER_HEADS_H
#define TRACE_HARNESS_WORKER_HEADS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define MAX_KINDS 8
#define MAX_SUSPECTS 16
#define STAMP_LEN 19 /* YYYY/MM/DD HH:MM:SS */

typedef struct {
    const char *p;
    Py_ssize_t n;
} Span;

/* One canonical record head; ident and session are empty when absent; payload keeps its " payload=". */
typedef struct {
    int kind;
    Span stamp, fraction, task, issue, ident, session, msg, payload;
} Row;

typedef struct {
    int count;
    const char *name[MAX_KINDS];
    Py_ssize_t len[MAX_KINDS];
    int wanted[MAX_KINDS]; /* the kinds this process folds */
} Kinds;

typedef struct {
    int count;
    const char *text[MAX_SUSPECTS]; /* payload scalars that may supply an id, each ending in ':' */
    Py_ssize_t len[MAX_SUSPECTS];
} Suspects;

/* ---- character classes (ASCII, as `re.ASCII` reads them) ---- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int is_gap(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

/* worker_rows._SAFE: printable ASCII except space, '"' and '=' */
static int is_safe(unsigned char c) { return c >= 0x21 && c <= 0x7e && c != '"' && c != '='; }

/* worker_rows.PLAIN_MSG: printable ASCII and space, except '"' and '\' */
static int is_plain(unsigned char c) { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'; }

static const char *digits(const char *p, const char *end, int n)
{
    for (; n > 0; n--, p++) {
        if (p >= end || !is_digit(*p))
            return NULL;
    }
    return p;
}

static const char *literal(const char *p, const char *end, const char *text, Py_ssize_t n)
{
    return (end - p >= n && memcmp(p, text, (size_t)n) == 0) ? p + n : NULL;
}

static const char *gaps(const char *p, const char *end)
{
    if (p >= end || !is_gap(*p))
        return NULL;
    while (p < end && is_gap(*p))
        p++;
    return p;
}

/* ---- record heads ---- */

/* \d{4}/\d\d/\d\d<sep>\d\d:\d\d:\d\d, where sep is one space (exact) or a run of gaps (loose) */
static const char *stamp_end(const char *p, const char *end, int exact)
{
    if (!(p = digits(p, end, 4)) || !(p = literal(p, end, "/", 1)) || !(p = digits(p, end, 2)))
        return NULL;
    if (!(p = literal(p, end, "/", 1)) || !(p = digits(p, end, 2)))
        return NULL;
    if (!(p = exact ? literal(p, end, " ", 1) : gaps(p, end)))
        return NULL;
    if (!(p = digits(p, end, 2)) || !(p = literal(p, end, ":", 1)) || !(p = digits(p, end, 2)))
        return NULL;
    if (!(p = literal(p, end, ":", 1)))
        return NULL;
    return digits(p, end, 2);
}

static const char *fraction_end(const char *p, const char *end)
{
    if (p + 1 < end && *p == '.' && is_digit(p[1])) {
        for (p++; p < end && is_digit(*p); p++)
            ;
    }
    return p;
}

/* worker_rows._any_failure_start: any start the per-record scan could take as a wanted kind */
static int failure_start(const Kinds *kinds, const char *p, const char *end)
{
    if (!(p = stamp_end(p, end, 0)))
        return 0;
    if (!(p = gaps(fraction_end(p, end), end)) || !(p = literal(p, end, "event=", 6)))
        return 0;
    if (p < end && *p == '"')
        p++;
    for (int k = 0; k < kinds->count; k++) {
        if (kinds->wanted[k] && literal(p, end, kinds->name[k], kinds->len[k]))
            return 1;
    }
    return 0;
}

static const char *safe_run(const char *p, const char *end, Span *out)
{
    const char *start = p;
    while (p < end && is_safe((unsigned char)*p))
        p++;
    out->p = start;
    out->n = p - start;
    return p;
}

/* ` <key>=<safe>` for an optional field: absent (empty span, p unchanged) unless the whole field is there */
static const char *optional_field(const char *p, const char *end, const char *key, Py_ssize_t n, Span *out)
{
    const char *value = literal(p, end, key, n);
    out->p = p;
    out->n = 0;
    if (!value)
        return p;
    const char *after = safe_run(value, end, out);
    if (out->n == 0)
        return p;
    return after;
}

static const char *required_field(const char *p, const char *end, const char *key, Py_ssize_t n, Span *out)
{
    if (!(p = literal(p, end, key, n)))
        return NULL;
    p = safe_run(p, end, out);
    return out->n > 0 ? p : NULL;
}

static const char *canonical_kind(const Kinds *kinds, const char *p, const char *end, int *kind)
{
    for (int k = 0; k < kinds->count; k++) {
        const char *after = kinds->wanted[k] ? literal(p, end, kinds->name[k], kinds->len[k]) : NULL;
        if (after && literal(after, end, " task_id=", 9)) {
            *kind = k;
            return after;
        }
    }
    return NULL;
}

/* The canonical alternative of worker_rows.ROW_RE, matched over the whole line. */
static int canonical(const Kinds *kinds, const char *line, const char *end, Row *row)
{
    const char *p = stamp_end(line, end, 1);
    if (!p)
        return 0;
    row->stamp = (Span){line, p - line};
    const char *q = fraction_end(p, end);
    row->fraction = (Span){p, q - p};
    if (!(p = literal(q, end, " event=", 7)) || !(p = canonical_kind(kinds, p, end, &row->kind)))
        return 0;
    if (!(p = required_field(p, end, " task_id=", 9, &row->task)))
        return 0;
    if (!(p = required_field(p, end, " issue_id=", 10, &row->issue)))
        return 0;
    p = optional_field(p, end, " issue_identifier=", 18, &row->ident);
    p = optional_field(p, end, " session_id=", 12, &row->session);
    if (!(p = literal(p, end, " msg=\"", 6)))
        return 0;
    for (q = p; q < end && is_plain((unsigned char)*q); q++)
        ;
    row->msg = (Span){p, q - p};
    if (!(p = literal(q, end, "\"", 1)))
        return 0;
    row->payload = (Span){p, end - p};
    return p == end || literal(p, end, " payload=", 9) != NULL;
}

static int contains(Span hay, const char *needle, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i + n <= hay.n; i++) {
        if (memcmp(hay.p + i, needle, (size_t)n) == 0)
            return 1;
    }
    return 0;
}

/* worker_rows.odd_rows: a payload scalar that may supply an id, or " payload=" inside the msg */
static int odd(const Suspects *suspects, const Row *row)
{
    for (Py_ssize_t i = 0; i < row->payload.n; i++) {
        if (row->payload.p[i] != ':')
            continue;
        for (int s = 0; s < suspects->count; s++) {
            Py_ssize_t n = suspects->len[s] - 1; /* without its ':' */
            if (i >= n && row->payload.p[i - 1] == suspects->text[s][n - 1] &&
                memcmp(row->payload.p + i - n, suspects->text[s], (size_t)n) == 0)
                return 1;
        }
    }
    return contains(row->msg, " payload=", 9);
}

static char lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; }

/* "runner failed" in msg.lower(); the msg is plain ASCII */
static int says_failed(Span msg)
{
    static const char needle[] = "runner failed";
    const Py_ssize_t n = (Py_ssize_t)sizeof(needle) - 1;
    for (Py_ssize_t i = 0; i + n <= msg.n; i++) {
        Py_ssize_t j = 0;
        while (j < n && lower_ascii(msg.p[i + j]) == needle[j])
            j++;
        if (j == n)
            return 1;
    }
    return 0;
}

#endif
