/* Affected ids for `_worker_native.c`: one table per affected list, shared by every kind a scanner folds,
 * and one union-find forest per kind (components.IdComponents, in C).
 *
 * A table gives each distinct id a dense index; per index it keeps the id's text (in the table's arena),
 * its label in each folded kind's forest (-1: not in that cluster) and, once handed over, its str. A hash
 * slot is 16 bytes (hash, index, text), so a lookup costs one cache line and one compare of the text, and
 * a take walks the dense arrays in the order the ids were first seen. Everything here but `ids_str` and `ids_free` runs without the GIL.
 */
#ifndef TRACE_HARNESS_WORKER_IDS_H
#define TRACE_HARNESS_WORKER_IDS_H

#include "_worker_heads.h"

#include <stdint.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

typedef struct {
    uint32_t hash;           /* its low half: where the slot sits, and a first test */
    uint32_t index_plus_one; /* 0: an empty slot */
    uint32_t off, len;       /* the id's bytes in the arena, here so a probe touches one line */
} Slot;

typedef struct {
    uint32_t off, len; /* the id's bytes in the arena */
} IdText;

typedef struct {
    int kinds; /* label columns: one per kind the scanner folds */
    Slot *slots;
    size_t mask; /* slot capacity - 1; the capacity is a power of two */
    IdText *texts;
    int32_t *labels; /* labels[index * kinds + kind] */
    PyObject **strs;
    size_t count, capacity;
    char *arena;
    size_t arena_used, arena_capacity;
} IdTable;

typedef struct {
    int32_t *parent; /* label -> a label of the same component; roots are their own parent */
    size_t labels, capacity;
} Forest;

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n, word;
    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&word, s, 8);
        h = (h ^ word) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    word = 0;
    memcpy(&word, s, n);
    h = (h ^ word) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

static int grow(void **array, size_t *capacity, size_t needed, size_t item, size_t first)
{
    if (needed <= *capacity)
        return 0;
    size_t bigger = *capacity ? *capacity : first;
    while (bigger < needed)
        bigger *= 2;
    void *moved = PyMem_RawRealloc(*array, bigger * item);
    if (!moved)
        return -1;
    *array = moved;
    *capacity = bigger;
    return 0;
}

#define HUGE_PAGE (2u << 20)

/* Zeroed slots. A table of megabytes is probed at random, so each probe would also miss the TLB: where the
 * platform has transparent huge pages, a large table asks for them (2 MiB pages, 512x fewer entries). */
static Slot *slots_alloc(size_t capacity)
{
    size_t bytes = capacity * sizeof(Slot);
#if defined(MADV_HUGEPAGE)
    void *memory = NULL;
    if (bytes >= HUGE_PAGE && posix_memalign(&memory, HUGE_PAGE, bytes) == 0) {
        madvise(memory, bytes, MADV_HUGEPAGE);
        return memset(memory, 0, bytes);
    }
#endif
    return PyMem_RawCalloc(capacity, sizeof(Slot));
}

static void slots_free(Slot *slots, size_t capacity)
{
#if defined(MADV_HUGEPAGE)
    if (capacity * sizeof(Slot) >= HUGE_PAGE) {
        free(slots);
        return;
    }
#endif
    PyMem_RawFree(slots);
}

static int ids_grow_slots(IdTable *t)
{
    size_t capacity = t->slots ? (t->mask + 1) * 2 : 1024;
    Slot *slots = slots_alloc(capacity);
    if (!slots)
        return -1;
    for (size_t i = 0; t->slots && i <= t->mask; i++) {
        if (!t->slots[i].index_plus_one)
            continue;
        size_t at = t->slots[i].hash & (capacity - 1);
        while (slots[at].index_plus_one)
            at = (at + 1) & (capacity - 1);
        slots[at] = t->slots[i];
    }
    if (t->slots)
        slots_free(t->slots, t->mask + 1);
    t->slots = slots;
    t->mask = capacity - 1;
    return 0;
}

/* Room for one more id: its slot, its dense entries and its text. */
static int ids_reserve(IdTable *t, Py_ssize_t text)
{
    if ((!t->slots || (t->count + 1) * 10 > (t->mask + 1) * 7) && ids_grow_slots(t) < 0)
        return -1;
    size_t capacity = t->capacity, wanted = t->count + 1; /* the dense arrays share one capacity */
    if (grow((void **)&t->texts, &capacity, wanted, sizeof(IdText), 1024) < 0)
        return -1;
    capacity = t->capacity;
    if (grow((void **)&t->labels, &capacity, wanted, sizeof(int32_t) * (size_t)t->kinds, 1024) < 0)
        return -1;
    capacity = t->capacity;
    if (grow((void **)&t->strs, &t->capacity, wanted, sizeof(PyObject *), 1024) < 0)
        return -1;
    if (t->arena_used + (size_t)text > UINT32_MAX)
        return -1; /* 4 GiB of distinct ids: treated as out of memory */
    return grow((void **)&t->arena, &t->arena_capacity, t->arena_used + (size_t)text, 1, 1 << 16);
}

/* The id's dense index, or -1 when the table does not hold it. */
static Py_ssize_t ids_find(const IdTable *t, Span id, uint32_t hash)
{
    for (size_t at = hash & t->mask; t->slots && t->slots[at].index_plus_one; at = (at + 1) & t->mask) {
        const Slot *slot = &t->slots[at];
        if (slot->hash == hash && slot->len == (uint32_t)id.n && !memcmp(t->arena + slot->off, id.p, (size_t)id.n))
            return slot->index_plus_one - 1;
    }
    return -1;
}

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(address) __builtin_prefetch(address)
#else
#define PREFETCH(address) ((void)(address))
#endif

static uint32_t ids_hash(Span id) { return (uint32_t)hash_bytes(id.p, (size_t)id.n); }

/* Start loading the slot an id's probe begins at. */
static void ids_prefetch_slot(const IdTable *t, uint32_t hash)
{
    if (t->slots)
        PREFETCH(&t->slots[hash & t->mask]);
}

/* Start loading what a probe for the id compares and reads next: the text and labels of each slot on its
 * probe chain that could be it (the slots are loaded by now). */
static void ids_prefetch_entry(const IdTable *t, Span id, uint32_t hash)
{
    for (size_t at = hash & t->mask; t->slots && t->slots[at].index_plus_one; at = (at + 1) & t->mask) {
        const Slot *slot = &t->slots[at];
        if (slot->hash == hash && slot->len == (uint32_t)id.n) {
            PREFETCH(t->arena + slot->off);
            PREFETCH(&t->labels[(slot->index_plus_one - 1) * (size_t)t->kinds]);
        }
    }
}

/* The id's dense index, added (in no cluster yet) if new; -1 when out of memory. */
static Py_ssize_t ids_index(IdTable *t, Span id, uint32_t hash)
{
    Py_ssize_t found = ids_find(t, id, hash);
    if (found >= 0)
        return found;
    if (ids_reserve(t, id.n) < 0)
        return -1;
    size_t at = hash & t->mask, index = t->count++;
    while (t->slots[at].index_plus_one)
        at = (at + 1) & t->mask;
    t->slots[at] = (Slot){hash, (uint32_t)index + 1, (uint32_t)t->arena_used, (uint32_t)id.n};
    t->texts[index] = (IdText){(uint32_t)t->arena_used, (uint32_t)id.n};
    memcpy(t->arena + t->arena_used, id.p, (size_t)id.n);
    t->arena_used += (size_t)id.n;
    memset(&t->labels[index * (size_t)t->kinds], 0xff, sizeof(int32_t) * (size_t)t->kinds);
    t->strs[index] = NULL;
    return (Py_ssize_t)index;
}

static int32_t *ids_label(IdTable *t, Py_ssize_t index, int kind) { return &t->labels[index * t->kinds + kind]; }

/* The id's str, made once (with the GIL), or the one the partner table (another scanner's) already made:
 * one string per id in this process, whichever scanner hands it over first. */
static PyObject *ids_str(IdTable *t, Py_ssize_t index, const IdTable *partner)
{
    if (!t->strs[index]) {
        Span text = {t->arena + t->texts[index].off, t->texts[index].len};
        Py_ssize_t theirs = partner ? ids_find(partner, text, ids_hash(text)) : -1;
        if (theirs >= 0 && partner->strs[theirs]) {
            Py_INCREF(partner->strs[theirs]);
            t->strs[index] = partner->strs[theirs];
        } else {
            t->strs[index] = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, text.p, text.n); /* ASCII: safe */
        }
    }
    return t->strs[index];
}

static void ids_free(IdTable *t)
{
    for (size_t i = 0; i < t->count; i++)
        Py_XDECREF(t->strs[i]);
    if (t->slots)
        slots_free(t->slots, t->mask + 1);
    PyMem_RawFree(t->texts);
    PyMem_RawFree(t->labels);
    PyMem_RawFree(t->strs);
    PyMem_RawFree(t->arena);
    memset(t, 0, sizeof(*t));
}

static int32_t forest_find(Forest *f, int32_t label)
{
    while (f->parent[label] != label) {
        f->parent[label] = f->parent[f->parent[label]]; /* path halving keeps later finds short */
        label = f->parent[label];
    }
    return label;
}

static void forest_unite(Forest *f, int32_t first, int32_t second)
{
    int32_t a = forest_find(f, first), b = forest_find(f, second);
    if (a != b)
        f->parent[a > b ? a : b] = a < b ? a : b;
}

static int32_t forest_new_label(Forest *f)
{
    if (f->labels >= INT32_MAX || grow((void **)&f->parent, &f->capacity, f->labels + 1, sizeof(int32_t), 1024) < 0)
        return -1;
    f->parent[f->labels] = (int32_t)f->labels;
    return (int32_t)f->labels++;
}

#endif
