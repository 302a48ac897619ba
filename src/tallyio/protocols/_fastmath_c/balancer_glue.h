/* Balancer V2 weighted pools' Python glue, included by module.c after its shared helpers (the
 * u256 conversions, the pack cache, reference()): a WeightedPool packed into u256 columns,
 * bal_amount_out / bal_amount_in / bal_pow, and the registration of their readable references. */
#ifndef TALLYIO_BALANCER_GLUE_H
#define TALLYIO_BALANCER_GLUE_H

#include "balancer.h"

/* the readable references, registered by balancer_fast */
static PyObject *ref_bal_amount_out, *ref_bal_amount_in, *ref_bal_pow;

#define BAL_MAX_TOKENS 8

typedef struct {
    Py_ssize_t n;
    u256 balance[BAL_MAX_TOKENS], weight[BAL_MAX_TOKENS], scale[BAL_MAX_TOKENS], fee;
    PyObject **tokens; /* borrowed from refs: exact ASCII strs */
} weighted_data;

/* a tuple of n non-negative ints below 2**256 */
static int fill_u256s(u256 *out, PyObject *pool, const char *name, Py_ssize_t n) {
    PyObject *t = PyObject_GetAttrString(pool, name);
    int bad = !t || !PyTuple_Check(t) || PyTuple_GET_SIZE(t) != n;
    for (Py_ssize_t i = 0; !bad && i < n; i++) bad = py_u256(PyTuple_GET_ITEM(t, i), &out[i]) != 0;
    Py_XDECREF(t);
    return bad;
}

static int weighted_fill(weighted_data *d, PyObject *pool, Pack *pack) {
    PyObject *tokens = PyObject_GetAttrString(pool, "tokens");
    if (!tokens || !PyTuple_Check(tokens) || PyTuple_GET_SIZE(tokens) > BAL_MAX_TOKENS) {
        Py_XDECREF(tokens);
        return 1;
    }
    pack->refs = tokens;
    d->n = PyTuple_GET_SIZE(tokens);
    d->tokens = &PyTuple_GET_ITEM(tokens, 0);
    for (Py_ssize_t i = 0; i < d->n; i++) {
        if (!PyUnicode_CheckExact(d->tokens[i]) || !PyUnicode_IS_ASCII(d->tokens[i])) return 1;
    }
    return fill_u256s(d->balance, pool, "balances", d->n) ||
           fill_u256s(d->weight, pool, "weights", d->n) ||
           fill_u256s(d->scale, pool, "scaling_factors", d->n) ||
           attr_u256(pool, "swap_fee", &d->fee);
}

static Pack *build_weighted(PyObject *pool) {
    Pack *p = pack_new(pool, sizeof(weighted_data));
    if (!p) return NULL;
    p->ok = !weighted_fill(p->data, pool, p);
    if (!p->ok) PyErr_Clear();
    return p;
}

static int ascii_equal(PyObject *a, PyObject *b, int fold) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(a);
    if (n != PyUnicode_GET_LENGTH(b)) return 0;
    const char *x = (const char *)PyUnicode_DATA(a), *y = (const char *)PyUnicode_DATA(b);
    if (!fold) return memcmp(x, y, n) == 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        char cx = x[i] >= 'A' && x[i] <= 'Z' ? x[i] + 32 : x[i];
        char cy = y[i] >= 'A' && y[i] <= 'Z' ? y[i] + 32 : y[i];
        if (cx != cy) return 0;
    }
    return 1;
}

/* WeightedPool.index: the first equal token, else the first equal once lowercased (on ASCII
 * strs, str.lower() folds only A-Z); -1 when the reference must decide */
static Py_ssize_t weighted_index(const weighted_data *d, PyObject *token) {
    for (Py_ssize_t i = 0; i < d->n; i++) {
        if (token == d->tokens[i]) return i;
    }
    if (!PyUnicode_CheckExact(token) || !PyUnicode_IS_ASCII(token)) return -1;
    for (int fold = 0; fold < 2; fold++) {
        for (Py_ssize_t i = 0; i < d->n; i++) {
            if (ascii_equal(token, d->tokens[i], fold)) return i;
        }
    }
    return -1;
}

/* given_in 1: amount_out(pool, token_in, token_out, amount_in); 0: amount_in(..., out) */
static PyObject *weighted_quote(PyObject *const *args, size_t nargsf, PyObject *kw, int given_in) {
    PyObject *ref = given_in ? ref_bal_amount_out : ref_bal_amount_in;
    if (kw || PyVectorcall_NARGS(nargsf) != 4) return reference(ref, args, nargsf, kw);
    Pack *pack = cached(KIND_WEIGHTED, args[0], build_weighted);
    if (!pack) return NULL;
    weighted_data *d = pack->data;
    Py_ssize_t i = pack->ok ? weighted_index(d, args[1]) : -1;
    Py_ssize_t o = i >= 0 ? weighted_index(d, args[2]) : -1;
    u256 amount, r;
    if (o < 0 || i == o || py_u256(args[3], &amount)) {
        PyErr_Clear();
        return reference(ref, args, nargsf, kw);
    }
    bal_swap s = {&d->balance[i], &d->balance[o], &d->weight[i], &d->weight[o],
                  &d->scale[i],   &d->scale[o],   &d->fee};
    if (given_in ? bal_out_given_in(&r, &s, &amount) : bal_in_given_out(&r, &s, &amount))
        return reference(ref, args, nargsf, kw);
    return u256_py(&r);
}

static PyObject *fm_bal_amount_out(PyObject *m, PyObject *const *a, size_t n, PyObject *kw) {
    (void)m;
    return weighted_quote(a, n, kw, 1);
}

static PyObject *fm_bal_amount_in(PyObject *m, PyObject *const *a, size_t n, PyObject *kw) {
    (void)m;
    return weighted_quote(a, n, kw, 0);
}

static PyObject *fm_bal_pow(PyObject *m, PyObject *const *args, size_t nargsf, PyObject *kw) {
    (void)m;
    u256 x, y, r;
    if (kw || PyVectorcall_NARGS(nargsf) != 2 || py_u256(args[0], &x) || py_u256(args[1], &y) ||
        bal_pow(&r, &x, &y)) {
        PyErr_Clear();
        return reference(ref_bal_pow, args, nargsf, kw);
    }
    return u256_py(&r);
}

/* -- registration ------------------------------------------------------------------------ */
static PyObject *fm_register_balancer(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *out, *in, *pow;
    if (!PyArg_ParseTuple(args, "OOO", &out, &in, &pow)) return NULL;
    Py_XSETREF(ref_bal_amount_out, Py_NewRef(out));
    Py_XSETREF(ref_bal_amount_in, Py_NewRef(in));
    Py_XSETREF(ref_bal_pow, Py_NewRef(pow));
    Py_RETURN_NONE;
}

#endif
