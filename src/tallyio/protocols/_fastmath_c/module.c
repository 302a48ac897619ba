/* tallyio.protocols._fastmath: the native fast path beside the readable protocol models.
 *
 * Each public function takes the same arguments as its readable reference and returns the
 * same value. A frozen pool or account is packed into C structs once (kept in a small
 * direct-mapped cache that holds the value alive, so its address stays its identity); a call
 * is then one pass over C integers. Anything outside the fast path - a revert, a value past
 * 256 bits, an unusual argument - is handed to the reference with the caller's arguments, so
 * errors are the reference's own exceptions and messages.
 *
 * This file holds what every fast path shares (int conversions, the pack cache, calling a
 * reference), the method table and init; each protocol's glue is its own header, included
 * below: v3_glue.h, aave_glue.h, balancer_glue.h (over the math in v3.h, aave.h, balancer.h).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the limb layout assumes a little-endian machine"
#endif

#include "u256.h"
#include "v3.h"
#include "aave.h"
#include "balancer.h"

/* -- Python ints <-> u256 ---------------------------------------------------------------- */
/* 0: converted; 1: not a non-negative int below 2**256 (the caller falls back). */
static int py_u256(PyObject *o, u256 *out) {
    int overflow;
    if (!PyLong_Check(o)) return 1;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (!overflow) {
        if (v < 0) return 1;
        *out = u256_from64((uint64_t)v);
        return 0;
    }
    if (overflow < 0 || _PyLong_NumBits(o) > 256) return 1;
    return _PyLong_AsByteArray((PyLongObject *)o, (unsigned char *)out->w, 32, 1, 0) ? -1 : 0;
}

static int py_i64(PyObject *o, int64_t *out) {
    int overflow;
    if (!PyLong_Check(o)) return 1;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 1;
    }
    *out = v;
    return 0;
}

static PyObject *u256_py(const u256 *a) {
    if (!(a->w[1] | a->w[2] | a->w[3])) return PyLong_FromUnsignedLongLong(a->w[0]);
    return _PyLong_FromByteArray((const unsigned char *)a->w, 32, 1, 0);
}

static PyObject *u256_py_signed(const u256 *a, int negative) {
    PyObject *p = u256_py(a);
    if (p && negative) {
        PyObject *n = PyNumber_Negative(p);
        Py_DECREF(p);
        return n;
    }
    return p;
}

/* an attribute as u256 / int64; 1 when missing or out of range */
static int attr_u256(PyObject *obj, const char *name, u256 *out) {
    PyObject *v = PyObject_GetAttrString(obj, name);
    if (!v) {
        PyErr_Clear();
        return 1;
    }
    int bad = py_u256(v, out);
    Py_DECREF(v);
    if (bad) PyErr_Clear();
    return bad != 0;
}

static int attr_i64(PyObject *obj, const char *name, int64_t *out) {
    PyObject *v = PyObject_GetAttrString(obj, name);
    if (!v) {
        PyErr_Clear();
        return 1;
    }
    int bad = py_i64(v, out);
    Py_DECREF(v);
    return bad;
}

static int attr_true(PyObject *obj, const char *name, int *out) {
    PyObject *v = PyObject_GetAttrString(obj, name);
    if (!v) {
        PyErr_Clear();
        return 1;
    }
    *out = PyObject_IsTrue(v);
    Py_DECREF(v);
    if (*out < 0) {
        PyErr_Clear();
        return 1;
    }
    return 0;
}

/* -- packs and their cache --------------------------------------------------------------- */
enum { KIND_V3, KIND_RESERVE, KIND_ACCOUNT, KIND_EMODE, KIND_WEIGHTED, KINDS };
#define CACHE_BITS 15
#define CACHE_SLOTS (1 << CACHE_BITS)

typedef struct {
    PyObject_HEAD
    PyObject *src;   /* the frozen value packed here, kept alive */
    PyObject *refs;  /* Python objects the pack points at (tokens, assets), or NULL */
    int ok;          /* 0: some field is outside the fast path; always ask the reference */
    void *data;      /* kind-specific, one PyMem block */
    void (*release)(void *);  /* frees what data points at, if anything */
} Pack;

static void pack_dealloc(Pack *p) {
    Py_XDECREF(p->src);
    Py_XDECREF(p->refs);
    if (p->data && p->release) p->release(p->data);
    PyMem_Free(p->data);
    PyObject_Free(p);
}

static PyTypeObject PackType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tallyio.protocols._fastmath.Pack",
    .tp_basicsize = sizeof(Pack),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)pack_dealloc,
    .tp_doc = "A frozen value packed into C integers.",
};

static Pack *pack_new(PyObject *src, size_t size) {
    Pack *p = PyObject_New(Pack, &PackType);
    if (!p) return NULL;
    p->src = Py_NewRef(src);
    p->refs = NULL;
    p->ok = 0;
    p->release = NULL;
    p->data = PyMem_Calloc(1, size ? size : 1);
    if (!p->data) {
        Py_DECREF(p);
        PyErr_NoMemory();
        return NULL;
    }
    return p;
}

typedef Pack *(*pack_builder)(PyObject *);
static Pack *cache[KINDS][CACHE_SLOTS];

/* Two-way: an address hashes to a pair of slots; a new pack goes first, the older one second,
 * and the second one's pack is dropped (its value freed if nothing else holds it). */
static Pack *cached(int kind, PyObject *obj, pack_builder build) {
    size_t s0 = (size_t)((((uintptr_t)obj >> 4) * 0x9E3779B97F4A7C15ULL) >> (64 - CACHE_BITS));
    size_t s1 = s0 ^ 1;
    Pack **slots = cache[kind];
    if (slots[s0] && slots[s0]->src == obj) return slots[s0];
    if (slots[s1] && slots[s1]->src == obj) return slots[s1];
    Pack *fresh = build(obj);
    if (!fresh) return NULL;
    Pack *dropped = slots[s1];
    slots[s1] = slots[s0];
    slots[s0] = fresh;
    Py_XDECREF(dropped);
    return fresh;
}

/* -- calling the readable references ----------------------------------------------------- */
static PyObject *reference(PyObject *fn, PyObject *const *args, size_t nargsf, PyObject *kw) {
    if (!fn) {
        PyErr_SetString(PyExc_RuntimeError, "_fastmath: readable reference not registered");
        return NULL;
    }
    return PyObject_Vectorcall(fn, args, nargsf, kw);
}

/* A frozen slots dataclass filled field by field (its __setattr__ refuses; the slots'
 * descriptors do not), without running __init__. Steals the values. */
static PyObject *frozen_value(PyObject *type, PyObject *names, PyObject **values) {
    Py_ssize_t n = PyTuple_GET_SIZE(names), i;
    PyObject *obj = NULL;
    for (i = 0; i < n; i++) {
        if (!values[i]) goto done;
    }
    obj = ((PyTypeObject *)type)->tp_alloc((PyTypeObject *)type, 0);
    for (i = 0; obj && i < n; i++) {
        if (PyObject_GenericSetAttr(obj, PyTuple_GET_ITEM(names, i), values[i]) < 0)
            Py_CLEAR(obj);
    }
done:
    for (i = 0; i < n; i++) Py_XDECREF(values[i]);
    return obj;
}

/* -- registration helpers ---------------------------------------------------------------- */
static PyObject *field_names(PyObject *type) {
    PyObject *slots = PyObject_GetAttrString(type, "__slots__");
    if (!slots) return NULL;
    PyObject *t = PySequence_Tuple(slots);
    Py_DECREF(slots);
    return t;
}

/* Each field's slot offset when every field is a plain object slot (a member descriptor),
 * so a value is filled without a lookup by name; else offsets[0] = -1. 1: offsets found. */
static int slot_offsets(PyObject *type, PyObject *names, Py_ssize_t *offsets) {
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    offsets[0] = -1;
    if (!PyType_Check(type) || ((PyTypeObject *)type)->tp_dictoffset) return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *descr = PyObject_GetAttr(type, PyTuple_GET_ITEM(names, i));
        if (!descr) return 0;
        int plain = Py_IS_TYPE(descr, &PyMemberDescr_Type) &&
                    ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX &&
                    !(((PyMemberDescrObject *)descr)->d_member->flags & READONLY);
        Py_ssize_t offset = plain ? ((PyMemberDescrObject *)descr)->d_member->offset : -1;
        Py_DECREF(descr);
        if (offset <= 0) {
            offsets[0] = -1;
            return 0;
        }
        offsets[i] = offset;
    }
    return 1;
}

/* -- each protocol's glue (packs, fast calls, registration) ------------------------------ */
#include "v3_glue.h"
#include "aave_glue.h"
#include "balancer_glue.h"

/* -- the module -------------------------------------------------------------------------- */
static PyObject *fm_clear_cache(PyObject *m, PyObject *unused) {
    (void)m;
    (void)unused;
    for (int k = 0; k < KINDS; k++) {
        for (int i = 0; i < CACHE_SLOTS; i++) Py_CLEAR(cache[k][i]);
    }
    Py_RETURN_NONE;
}

#define FASTCALL(f) (PyCFunction)(void (*)(void))(f), METH_FASTCALL | METH_KEYWORDS

static PyMethodDef methods[] = {
    {"v3_swap", FASTCALL(fm_v3_swap), "uniswap_v3.swap, natively."},
    {"v3_amount_out", FASTCALL(fm_v3_amount_out), "V3Pool.amount_out, natively."},
    {"v3_amount_in", FASTCALL(fm_v3_amount_in), "V3Pool.amount_in, natively."},
    {"aave_account_data", FASTCALL(fm_aave_account_data),
     "aave_v3.calculate_user_account_data, natively."},
    {"_register_v3", fm_register_v3, METH_VARARGS, "Register the V3 references and SwapResult."},
    {"_register_aave", fm_register_aave, METH_VARARGS, "Register the Aave reference, AccountData."},
    {"bal_amount_out", FASTCALL(fm_bal_amount_out), "WeightedPool.amount_out, natively."},
    {"bal_amount_in", FASTCALL(fm_bal_amount_in), "WeightedPool.amount_in, natively."},
    {"bal_pow", FASTCALL(fm_bal_pow), "balancer_logexp.pow, natively."},
    {"_register_balancer", fm_register_balancer, METH_VARARGS, "Register the Balancer references."},
    {"clear_cache", fm_clear_cache, METH_NOARGS, "Drop every packed value."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_fastmath", "Native fast paths beside the readable protocol math.",
    -1, methods,
};

PyMODINIT_FUNC PyInit__fastmath(void) {
    if (PyType_Ready(&PackType) < 0) return NULL;
    return PyModule_Create(&moduledef);
}
