/* Native scan of canonical worker records: the optional fast path of `report --worker-log`
 * (`evidence/worker_native.py` drives it; the pure-Python `evidence/worker_batch.py` is its oracle).
 *
 * For each line of a line-aligned chunk it does what the batch path does with `worker_rows.ROW_RE`: a
 * failure record start of a wanted kind is either canonical (`_worker_heads.h`) and folded here, or handed
 * back as a "slow" line for the per-record Python scan. Folding a row counts it, widens its kind's first and
 * last stamps, joins its ids (one hash table per affected list, shared by all kinds, with a union-find label
 * per kind) and pends its evidence entry exactly as `worker_rows.PendingEntries` does: the earliest rows by
 * (stamp, line) whose size floors fit the cluster bound. Rows the run's keeper may want come back as
 * `worker_rows.Row` tuples. `take` hands a kind's state over as Python objects.
 *
 * Input is untrusted: the heads are matched within each line's bounds, and what is kept is copied.
 */
#include "_worker_ids.h"

#define LISTS 5 /* issues, issue_identifiers, pull_requests, runs, sessions: models.AFFECTED_KEYS */

typedef struct {
    char stamp[STAMP_LEN];
    long long line_no;
    long long floor; /* worker_rows.floor of its row */
    char *line;      /* a copy of the record's line */
    Py_ssize_t len;
} Entry;

typedef struct {
    long long count;
    char first[STAMP_LEN], last[STAMP_LEN];
    Forest forest;
    Py_ssize_t ids[LISTS]; /* how many ids each affected list holds: the hand-over's column lengths */
    Entry *heap; /* pending entries, a max-heap by (stamp, line) */
    size_t entries, heap_capacity;
    long long pending_bytes; /* the sum of the pending entries' floors, plus one each */
    int cut;                 /* whether an entry was ever cut: nothing at or after cut_key is pended */
    Entry cut_key;
} Cluster;

typedef struct {
    Py_ssize_t base;        /* worker_rows._ENTRY_FLOOR + len(path) + 1 */
    Py_ssize_t punctuation; /* worker_rows._HEAD_PUNCTUATION */
    Py_ssize_t excerpt;     /* worker_rows._EXCERPT_FLOOR */
    long long bound;        /* bounds.MAX_CLUSTER_BYTES */
} Floors;

typedef struct {
    PyObject_HEAD
    int busy; /* scanning a chunk, without the GIL */
    Kinds kinds;
    int column[MAX_KINDS];           /* a folded kind's label column in the id tables */
    PyObject *kind_names[MAX_KINDS]; /* str; kinds.name points into them */
    int conditional; /* the kind that is a failure only when its msg says "runner failed" (-1: none) */
    PyObject *suspect_bytes;
    Suspects suspects;
    Floors floors;
    IdTable tables[LISTS];
    Cluster cluster[MAX_KINDS];
} Scanner;

static const int ID_LISTS[4] = {0, 1, 3, 4}; /* issue, identifier, task (a run), session */

/* A canonical failure row waiting to be folded, with its ids' hashes. */
typedef struct {
    Row row;
    long long line_no;
    Span line;
    uint32_t hash[4];
} Foldable;

static const Span *row_id(const Row *row, int i)
{
    const Span *ids[4] = {&row->issue, &row->ident, &row->task, &row->session};
    return ids[i];
}

/* components.IdComponents.join of one row's (list, id) pairs; -1 when out of memory */
static int join_ids(Scanner *sc, const Foldable *f)
{
    Forest *forest = &sc->cluster[f->row.kind].forest;
    int column = sc->column[f->row.kind];
    int32_t *labels[4], target = -1;
    for (int i = 0; i < 4; i++) {
        labels[i] = NULL;
        if (row_id(&f->row, i)->n == 0)
            continue;
        IdTable *table = &sc->tables[ID_LISTS[i]];
        Py_ssize_t index = ids_index(table, *row_id(&f->row, i), f->hash[i]);
        if (index < 0)
            return -1;
        labels[i] = ids_label(table, index, column);
        if (*labels[i] >= 0 && target < 0)
            target = *labels[i];
        else if (*labels[i] >= 0)
            forest_unite(forest, target, *labels[i]);
    }
    if (target < 0 && (target = forest_new_label(forest)) < 0)
        return -1;
    for (int i = 0; i < 4; i++) {
        if (labels[i] && *labels[i] < 0) {
            *labels[i] = target;
            sc->cluster[f->row.kind].ids[ID_LISTS[i]]++;
        }
    }
    return 0;
}

/* ---- pending evidence entries (worker_rows.PendingEntries) ---- */

static int entry_after(const Entry *a, const Entry *b)
{
    int order = memcmp(a->stamp, b->stamp, STAMP_LEN);
    return order > 0 || (order == 0 && a->line_no > b->line_no);
}

/* worker_rows.floor: a lower bound of the compact JSON size of the row's evidence entry */
static long long entry_floor(const Floors *f, const Row *row, Py_ssize_t kind_len, long long line_no)
{
    Py_ssize_t digits = 1;
    for (long long rest = line_no; rest >= 10 || rest <= -10; rest /= 10)
        digits++;
    digits += line_no < 0;
    Py_ssize_t fields = row->stamp.n + kind_len + row->task.n + row->issue.n;
    Py_ssize_t head = fields + row->msg.n + f->punctuation;
    return f->base + digits + fields + (head < f->excerpt ? head : f->excerpt);
}

static void sift_up(Entry *heap, size_t at)
{
    while (at > 0 && entry_after(&heap[at], &heap[(at - 1) / 2])) {
        Entry swap = heap[at];
        heap[at] = heap[(at - 1) / 2];
        heap[(at - 1) / 2] = swap;
        at = (at - 1) / 2;
    }
}

static void sift_down(Entry *heap, size_t n, size_t at)
{
    for (;;) {
        size_t largest = at, left = 2 * at + 1, right = left + 1;
        if (left < n && entry_after(&heap[left], &heap[largest]))
            largest = left;
        if (right < n && entry_after(&heap[right], &heap[largest]))
            largest = right;
        if (largest == at)
            return;
        Entry swap = heap[at];
        heap[at] = heap[largest];
        heap[largest] = swap;
        at = largest;
    }
}

/* Keep the longest key-ordered prefix whose floors fit; the first key ever cut closes the rest. */
static int pend(Scanner *sc, const Row *row, long long line_no, Span line)
{
    Cluster *c = &sc->cluster[row->kind];
    Entry entry = {.line_no = line_no, .len = line.n};
    memcpy(entry.stamp, row->stamp.p, STAMP_LEN);
    if (c->cut && !entry_after(&c->cut_key, &entry))
        return 0;
    if (c->entries == c->heap_capacity) {
        size_t capacity = c->heap_capacity ? c->heap_capacity * 2 : 256;
        Entry *heap = PyMem_RawRealloc(c->heap, capacity * sizeof(Entry));
        if (!heap)
            return -1;
        c->heap = heap;
        c->heap_capacity = capacity;
    }
    if (!(entry.line = PyMem_RawMalloc(line.n ? (size_t)line.n : 1)))
        return -1;
    memcpy(entry.line, line.p, (size_t)line.n);
    entry.floor = entry_floor(&sc->floors, row, sc->kinds.len[row->kind], line_no);
    c->heap[c->entries++] = entry;
    sift_up(c->heap, c->entries - 1);
    c->pending_bytes += entry.floor + 1;
    while (c->pending_bytes > sc->floors.bound) {
        Entry cut = c->heap[0];
        c->heap[0] = c->heap[--c->entries];
        sift_down(c->heap, c->entries, 0);
        c->pending_bytes -= cut.floor + 1;
        PyMem_RawFree(cut.line);
        cut.line = NULL;
        c->cut_key = cut;
        c->cut = 1;
    }
    return 0;
}

/* ---- scanning ---- */

static int fold(Scanner *sc, const Foldable *f)
{
    const Row *row = &f->row;
    Cluster *c = &sc->cluster[row->kind];
    if (c->count == 0 || memcmp(row->stamp.p, c->first, STAMP_LEN) < 0)
        memcpy(c->first, row->stamp.p, STAMP_LEN);
    if (c->count == 0 || memcmp(row->stamp.p, c->last, STAMP_LEN) > 0)
        memcpy(c->last, row->stamp.p, STAMP_LEN);
    c->count++;
    return join_ids(sc, f) < 0 || pend(sc, row, f->line_no, f->line) < 0 ? -1 : 0;
}

/* Python's str order of an ASCII stamp against a UTF-8 bound (UTF-8 keeps code point order) */
static int at_or_below(Span stamp, const char *bound, Py_ssize_t n)
{
    Py_ssize_t common = n < stamp.n ? n : stamp.n;
    int order = memcmp(stamp.p, bound, (size_t)common);
    return order < 0 || (order == 0 && stamp.n <= n);
}

typedef struct {
    long long line_no;
    Py_ssize_t start, stop; /* the line's bytes in the chunk */
} Mark;

typedef struct {
    Mark *marks;
    size_t n, capacity;
} Marks;

#define FOLD_BATCH 16 /* rows whose id slots are loaded together, before any is folded */

typedef struct {
    const char *base;
    const char *keep; /* the keeper's bound: rows at or below it come back */
    Py_ssize_t keep_len;
    Marks slow, rows;
    Foldable batch[FOLD_BATCH];
    int batched;
} Chunk;

static int mark(Marks *m, long long line_no, Py_ssize_t start, Py_ssize_t stop)
{
    if (m->n == m->capacity) {
        size_t capacity = m->capacity ? m->capacity * 2 : 64;
        Mark *marks = PyMem_RawRealloc(m->marks, capacity * sizeof(Mark));
        if (!marks)
            return -1;
        m->marks = marks;
        m->capacity = capacity;
    }
    m->marks[m->n++] = (Mark){line_no, start, stop};
    return 0;
}

/* Fold the batched rows in line order. Their id lookups miss the cache (the tables are megabytes), so the
 * slots of all of them are loaded first, then what those slots point at, and only then is anything folded. */
static int fold_batch(Scanner *sc, Chunk *chunk)
{
    for (int b = 0; b < chunk->batched; b++) {
        for (int i = 0; i < 4; i++)
            ids_prefetch_slot(&sc->tables[ID_LISTS[i]], chunk->batch[b].hash[i]);
    }
    for (int b = 0; b < chunk->batched; b++) {
        for (int i = 0; i < 4; i++) {
            const Span *id = row_id(&chunk->batch[b].row, i);
            if (id->n)
                ids_prefetch_entry(&sc->tables[ID_LISTS[i]], *id, chunk->batch[b].hash[i]);
        }
    }
    for (int b = 0; b < chunk->batched; b++) {
        const Foldable *f = &chunk->batch[b];
        if (fold(sc, f) < 0)
            return -1;
        if (at_or_below(f->row.stamp, chunk->keep, chunk->keep_len) &&
            mark(&chunk->rows, f->line_no, f->line.p - chunk->base, f->line.p + f->line.n - chunk->base) < 0)
            return -1;
    }
    chunk->batched = 0;
    return 0;
}

/* One line: ignored, marked slow, or batched for folding (and marked, when folded, if the keeper may want
 * it). No Python API: this runs without the GIL. */
static int scan_line(Scanner *sc, Chunk *chunk, const char *line, const char *end, long long line_no)
{
    Foldable *f = &chunk->batch[chunk->batched];
    if (end - line < STAMP_LEN || !is_digit(*line) || !failure_start(&sc->kinds, line, end))
        return 0;
    if (!canonical(&sc->kinds, line, end, &f->row) || odd(&sc->suspects, &f->row))
        return mark(&chunk->slow, line_no, line - chunk->base, end - chunk->base);
    if (f->row.kind == sc->conditional && !says_failed(f->row.msg))
        return 0;
    f->line_no = line_no;
    f->line = (Span){line, end - line};
    for (int i = 0; i < 4; i++)
        f->hash[i] = row_id(&f->row, i)->n ? ids_hash(*row_id(&f->row, i)) : 0;
    return ++chunk->batched == FOLD_BATCH ? fold_batch(sc, chunk) : 0;
}

static long long scan_lines(Scanner *sc, Chunk *chunk, const char *p, const char *end, long long line_no)
{
    while (p < end) {
        const char *newline = memchr(p, '\n', (size_t)(end - p)), *stop = newline ? newline : end;
        if (scan_line(sc, chunk, p, stop, line_no) < 0)
            return -1;
        line_no += newline != NULL;
        p = newline ? newline + 1 : end;
    }
    return fold_batch(sc, chunk) < 0 ? -1 : line_no;
}

static PyObject *ascii_str(Span s) { return PyUnicode_DecodeASCII(s.p, s.n, "strict"); }

static PyObject *row_tuple(const Scanner *sc, const Row *row, long long line_no)
{
    PyObject *fields = Py_BuildValue(
        "(NNONNNNNN)", ascii_str(row->stamp), ascii_str(row->fraction), sc->kind_names[row->kind],
        ascii_str(row->task), ascii_str(row->issue), ascii_str(row->ident), ascii_str(row->session),
        ascii_str(row->msg), PyUnicode_DecodeUTF8(row->payload.p, row->payload.n, "replace"));
    return fields ? Py_BuildValue("(iLN)", row->kind, line_no, fields) : NULL;
}

static int append_new(PyObject *list, PyObject *item)
{
    if (!item)
        return -1;
    int status = PyList_Append(list, item);
    Py_DECREF(item);
    return status;
}

/* [(line, start, stop)] of the slow lines, or [(kind, line, Row)] of the marked rows (parsed again) */
static PyObject *marked(const Scanner *sc, const Chunk *chunk, const Marks *m, int as_rows)
{
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list && i < m->n; i++) {
        const Mark *at = &m->marks[i];
        PyObject *item;
        Row row;
        if (!as_rows)
            item = Py_BuildValue("(Lnn)", at->line_no, at->start, at->stop);
        else if (canonical(&sc->kinds, chunk->base + at->start, chunk->base + at->stop, &row))
            item = row_tuple(sc, &row, at->line_no);
        else
            item = PyErr_Format(PyExc_AssertionError, "line %lld: a marked row is canonical", at->line_no);
        if (append_new(list, item) < 0)
            Py_CLEAR(list);
    }
    return list;
}

static PyObject *Scanner_chunk(Scanner *sc, PyObject *args)
{
    Py_buffer buffer;
    long long line_no, after;
    Chunk chunk = {0};
    if (!PyArg_ParseTuple(args, "y*Ly#:chunk", &buffer, &line_no, &chunk.keep, &chunk.keep_len))
        return NULL;
    if (sc->busy) {
        PyBuffer_Release(&buffer);
        return PyErr_Format(PyExc_RuntimeError, "a Scanner scans one chunk at a time");
    }
    sc->busy = 1;
    chunk.base = buffer.buf;
    Py_BEGIN_ALLOW_THREADS /* another scanner (other kinds) may scan the same chunk meanwhile */
    after = scan_lines(sc, &chunk, chunk.base, chunk.base + buffer.len, line_no);
    Py_END_ALLOW_THREADS
    sc->busy = 0;
    PyObject *slow = NULL, *rows = NULL, *result = NULL;
    if (after < 0)
        PyErr_NoMemory();
    else if ((slow = marked(sc, &chunk, &chunk.slow, 0)) && (rows = marked(sc, &chunk, &chunk.rows, 1)))
        result = Py_BuildValue("(LOO)", after, slow, rows);
    Py_XDECREF(slow);
    Py_XDECREF(rows);
    PyMem_RawFree(chunk.slow.marks);
    PyMem_RawFree(chunk.rows.marks);
    PyBuffer_Release(&buffer);
    return result;
}

/* ---- handing a kind over ---- */

static void cluster_free(Cluster *c)
{
    for (size_t i = 0; i < c->entries; i++)
        PyMem_RawFree(c->heap[i].line);
    PyMem_RawFree(c->heap);
    PyMem_RawFree(c->forest.parent);
    memset(c, 0, sizeof(*c));
}

/* ([id], [root]) of one list for one kind, roots renumbered 0..n-1 (one int object each, appended to roots) */
static PyObject *table_columns(IdTable *t, const IdTable *partner, Cluster *c, int column, Py_ssize_t count,
                               int32_t *renumbered, PyObject *roots)
{
    PyObject *ids = PyList_New(count), *labels = PyList_New(count), *result = NULL;
    Py_ssize_t at = 0;
    for (size_t index = 0; ids && labels && index < t->count; index++) {
        int32_t *label = ids_label(t, (Py_ssize_t)index, column);
        if (*label < 0)
            continue;
        int32_t root = forest_find(&c->forest, *label);
        *label = -1; /* handed over */
        if (renumbered[root] < 0) {
            renumbered[root] = (int32_t)PyList_GET_SIZE(roots);
            if (append_new(roots, PyLong_FromLong(renumbered[root])) < 0)
                goto done;
        }
        PyObject *id = ids_str(t, (Py_ssize_t)index, partner), *root_label = PyList_GET_ITEM(roots, renumbered[root]);
        if (!id || at >= count) {
            PyErr_SetString(PyExc_SystemError, "take: an id column is longer than counted");
            goto done;
        }
        Py_INCREF(id);
        Py_INCREF(root_label);
        PyList_SET_ITEM(ids, at, id);
        PyList_SET_ITEM(labels, at++, root_label);
    }
    if (ids && labels && at == count)
        result = PyTuple_Pack(2, ids, labels);
    else if (ids && labels)
        PyErr_SetString(PyExc_SystemError, "take: an id column is shorter than counted");
done:
    Py_XDECREF(ids);
    Py_XDECREF(labels);
    return result;
}

static int entry_order(const void *a, const void *b) { return entry_after(a, b) - entry_after(b, a); }

/* The pending entries in key order: [(stamp, line number, line)] */
static PyObject *pending_list(Cluster *c)
{
    qsort(c->heap, c->entries, sizeof(Entry), entry_order);
    PyObject *list = PyList_New(0);
    for (size_t i = 0; list && i < c->entries; i++) {
        Entry *e = &c->heap[i];
        PyObject *line = PyUnicode_DecodeUTF8(e->line, e->len, "replace");
        if (append_new(list, line ? Py_BuildValue("(s#LN)", e->stamp, (Py_ssize_t)STAMP_LEN, e->line_no, line)
                                  : NULL) < 0) {
            Py_DECREF(list);
            return NULL;
        }
    }
    return list;
}

static PyTypeObject ScannerType;

static PyObject *Scanner_take(Scanner *sc, PyObject *args)
{
    int kind;
    PyObject *partner = Py_None;
    if (!PyArg_ParseTuple(args, "i|O:take", &kind, &partner))
        return NULL;
    if (kind < 0 || kind >= sc->kinds.count)
        return PyErr_Format(PyExc_IndexError, "no kind %d", kind);
    if (partner != Py_None && !PyObject_TypeCheck(partner, &ScannerType))
        return PyErr_Format(PyExc_TypeError, "take: the partner is a Scanner or None");
    const IdTable *theirs = partner == Py_None ? NULL : ((Scanner *)partner)->tables;
    Cluster *c = &sc->cluster[kind];
    if (c->count == 0)
        Py_RETURN_NONE;
    int32_t *renumbered = PyMem_RawMalloc(c->forest.labels * sizeof(int32_t));
    PyObject *roots = PyList_New(0), *tables = PyTuple_New(LISTS), *pending = NULL, *result = NULL;
    if (!renumbered || !roots || !tables) {
        PyErr_NoMemory();
        goto done;
    }
    memset(renumbered, 0xff, c->forest.labels * sizeof(int32_t));
    for (int i = 0; i < LISTS; i++) {
        PyObject *columns = table_columns(&sc->tables[i], theirs ? &theirs[i] : NULL, c, sc->column[kind], c->ids[i],
                                          renumbered, roots);
        if (!columns)
            goto done;
        PyTuple_SET_ITEM(tables, i, columns);
    }
    if ((pending = pending_list(c)))
        result = Py_BuildValue("(Ls#s#OOO)", c->count, c->first, (Py_ssize_t)STAMP_LEN, c->last,
                               (Py_ssize_t)STAMP_LEN, tables, roots, pending);
    cluster_free(c);
done:
    PyMem_RawFree(renumbered);
    Py_XDECREF(roots);
    Py_XDECREF(tables);
    Py_XDECREF(pending);
    return result;
}

static PyObject *Scanner_counts(Scanner *sc, PyObject *Py_UNUSED(ignored))
{
    PyObject *counts = PyTuple_New(sc->kinds.count);
    for (int k = 0; counts && k < sc->kinds.count; k++) {
        PyObject *count = PyLong_FromLongLong(sc->cluster[k].count);
        if (!count)
            Py_CLEAR(counts);
        else
            PyTuple_SET_ITEM(counts, k, count);
    }
    return counts;
}

/* ---- the type ---- */

static int init_kinds(Scanner *sc, PyObject *kinds, PyObject *wanted)
{
    Py_ssize_t n = PyTuple_GET_SIZE(kinds);
    int columns = 0;
    if (sc->kinds.count || n < 1 || n > MAX_KINDS || PyTuple_GET_SIZE(wanted) != n) {
        PyErr_SetString(PyExc_ValueError, "Scanner: one wanted flag per kind, at most 8 kinds, once");
        return -1;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *name = PyTuple_GET_ITEM(kinds, k);
        if (!PyUnicode_Check(name)) {
            PyErr_SetString(PyExc_TypeError, "Scanner: kinds must be str");
            return -1;
        }
        if (!(sc->kinds.name[k] = PyUnicode_AsUTF8AndSize(name, &sc->kinds.len[k])))
            return -1;
        Py_INCREF(name);
        sc->kind_names[k] = name;
        sc->kinds.count = (int)k + 1;
        if ((sc->kinds.wanted[k] = PyObject_IsTrue(PyTuple_GET_ITEM(wanted, k))) < 0)
            return -1;
        sc->column[k] = columns;
        columns += sc->kinds.wanted[k];
    }
    return 0;
}

static int init_suspects(Scanner *sc, PyObject *suspects)
{
    Py_ssize_t n = PyTuple_GET_SIZE(suspects);
    if (n > MAX_SUSPECTS) {
        PyErr_SetString(PyExc_ValueError, "Scanner: at most 16 suspects");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *scalar = PyTuple_GET_ITEM(suspects, i);
        Py_ssize_t len = PyBytes_Check(scalar) ? PyBytes_GET_SIZE(scalar) : 0;
        if (len < 2 || PyBytes_AS_STRING(scalar)[len - 1] != ':') {
            PyErr_SetString(PyExc_ValueError, "Scanner: each suspect is bytes ending in ':', after a name");
            return -1;
        }
        sc->suspects.text[i] = PyBytes_AS_STRING(scalar);
        sc->suspects.len[i] = len;
    }
    Py_INCREF(suspects);
    sc->suspect_bytes = suspects;
    sc->suspects.count = (int)n;
    return 0;
}

static int Scanner_init(Scanner *sc, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"kinds", "wanted", "conditional", "suspects", "floors", NULL};
    PyObject *kinds, *wanted, *suspects;
    Floors *f = &sc->floors;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!iO!(nnnL):Scanner", keywords, &PyTuple_Type, &kinds,
                                     &PyTuple_Type, &wanted, &sc->conditional, &PyTuple_Type, &suspects,
                                     &f->base, &f->punctuation, &f->excerpt, &f->bound))
        return -1;
    if (init_kinds(sc, kinds, wanted) < 0 || init_suspects(sc, suspects) < 0)
        return -1;
    for (int i = 0; i < LISTS; i++)
        sc->tables[i].kinds = sc->column[sc->kinds.count - 1] + sc->kinds.wanted[sc->kinds.count - 1];
    if (sc->conditional < -1 || sc->conditional >= sc->kinds.count) {
        PyErr_SetString(PyExc_ValueError, "Scanner: conditional is a kind index or -1");
        return -1;
    }
    return 0;
}

static void Scanner_dealloc(Scanner *sc)
{
    for (int k = 0; k < MAX_KINDS; k++) {
        cluster_free(&sc->cluster[k]);
        Py_XDECREF(sc->kind_names[k]);
    }
    for (int i = 0; i < LISTS; i++)
        ids_free(&sc->tables[i]);
    Py_XDECREF(sc->suspect_bytes);
    Py_TYPE(sc)->tp_free((PyObject *)sc);
}

static PyMethodDef Scanner_methods[] = {
    {"chunk", (PyCFunction)Scanner_chunk, METH_VARARGS,
     "chunk(buffer, first_line, keep) -> (next_line, slow, rows)\n\n"
     "Fold the canonical failure records of a line-aligned chunk. `slow` lists (line, start, stop) of the\n"
     "failure records the per-record scan must read; `rows` lists (kind, line, Row) of the folded rows\n"
     "stamped at or below `keep` (UTF-8 bytes of a Go stamp: the keeper's bound)."},
    {"counts", (PyCFunction)Scanner_counts, METH_NOARGS,
     "counts() -> tuple of int\n\nHow many records each kind has folded and not yet handed over."},
    {"take", (PyCFunction)Scanner_take, METH_VARARGS,
     "take(kind, partner=None) -> None | (count, first, last, columns, roots, pending)\n\n"
     "A kind's folded state, handed over once: its first and last Go stamps, ([id], [root]) per affected list,\n"
     "the roots, and its pending evidence entries in key order as (stamp, line number, line). Id strings the\n"
     "partner scanner already handed over are shared, not made again."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "trace_harness._worker_native.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Scanner(kinds, wanted, conditional, suspects, floors): folds canonical worker records.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_methods = Scanner_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_worker_native",
    .m_doc = "Native scan of canonical worker records (optional; see evidence/worker_native.py).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__worker_native(void)
{
    if (PyType_Ready(&ScannerType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddObjectRef(m, "Scanner", (PyObject *)&ScannerType) < 0)
        Py_CLEAR(m);
    return m;
}
