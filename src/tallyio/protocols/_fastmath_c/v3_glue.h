/* Uniswap V3's Python glue, included by module.c after its shared helpers (the u256
 * conversions, the pack cache, reference(), frozen_value()): a V3Pool packed into a v3_pool,
 * v3_swap / v3_amount_out / v3_amount_in, and the registration of their readable references. */
#ifndef TALLYIO_V3_GLUE_H
#define TALLYIO_V3_GLUE_H

#include "v3.h"

/* the readable references and SwapResult, registered by uniswap_v3_fast */
static PyObject *ref_v3_swap, *ref_v3_amount_out, *ref_v3_amount_in;
static PyObject *swap_result_type, *swap_result_fields;  /* fields: a tuple of names */

typedef struct {
    v3_pool pool;
    PyObject *token0, *token1;  /* borrowed from refs */
} v3_data;

static int v3_fill_ticks(v3_pool *p, PyObject *initialized, PyObject *ticks) {
    Py_ssize_t n = PyTuple_GET_SIZE(initialized);
    p->n = n;
    p->ticks = PyMem_Calloc(n ? n : 1, sizeof(int64_t));
    p->nets = PyMem_Calloc(n ? n : 1, sizeof(__int128));
    p->sqrts = PyMem_Calloc(n ? n : 1, sizeof(u256));
    if (!p->ticks || !p->nets || !p->sqrts) return 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PyTuple_GET_ITEM(initialized, i);
        unsigned char buf[16];
        if (py_i64(t, &p->ticks[i])) return 1;
        if (i && p->ticks[i] <= p->ticks[i - 1]) return 1;
        if (v3_sqrt_ratio_at_tick(&p->sqrts[i], p->ticks[i])) return 1;
        PyObject *net = PyObject_GetItem(ticks, t);
        if (!net) return 1;
        int bad = !PyLong_Check(net) ||
                  _PyLong_AsByteArray((PyLongObject *)net, buf, 16, 1, 1) < 0;
        Py_DECREF(net);
        if (bad) return 1;
        memcpy(&p->nets[i], buf, 16);
        if ((u128)p->nets[i] == ((u128)1 << 127)) return 1;  /* int128 min: -net overflows */
    }
    return 0;
}

static int v3_fill(v3_data *d, PyObject *pool, Pack *pack) {
    v3_pool *p = &d->pool;
    int64_t fee, spacing;
    u256 liq;
    if (attr_i64(pool, "fee", &fee) || fee <= 0 || fee >= (int64_t)V3_FEE_DENOMINATOR ||
        attr_i64(pool, "tick_spacing", &spacing) || spacing <= 0 || spacing > (1 << 24) ||
        attr_u256(pool, "sqrt_price_x96", &p->sqrt_price) ||
        u256_cmp(&p->sqrt_price, &V3_MIN_SQRT) < 0 ||
        u256_cmp(&p->sqrt_price, &V3_MAX_SQRT) >= 0 || attr_i64(pool, "tick", &p->tick) ||
        p->tick < V3_MIN_TICK || p->tick > V3_MAX_TICK || attr_u256(pool, "liquidity", &liq) ||
        !u256_fits128(&liq))
        return 1;
    p->fee = (uint64_t)fee;
    p->spacing = spacing;
    p->liquidity = u256_low128(&liq);
    PyObject *initialized = PyObject_GetAttrString(pool, "initialized");
    PyObject *ticks = PyObject_GetAttrString(pool, "ticks");
    pack->refs = Py_BuildValue("(NN)", PyObject_GetAttrString(pool, "token0"),
                               PyObject_GetAttrString(pool, "token1"));
    int bad = !initialized || !ticks || !PyTuple_Check(initialized) || !pack->refs ||
              v3_fill_ticks(p, initialized, ticks);
    Py_XDECREF(initialized);
    Py_XDECREF(ticks);
    if (bad) return 1;
    d->token0 = PyTuple_GET_ITEM(pack->refs, 0);
    d->token1 = PyTuple_GET_ITEM(pack->refs, 1);
    return 0;
}

static void v3_release(void *data) {
    v3_data *d = data;
    PyMem_Free(d->pool.ticks);
    PyMem_Free(d->pool.nets);
    PyMem_Free(d->pool.sqrts);
}

static Pack *build_v3(PyObject *pool) {
    Pack *p = pack_new(pool, sizeof(v3_data));
    if (!p) return NULL;
    p->release = v3_release;
    p->ok = !v3_fill(p->data, pool, p);
    if (!p->ok) PyErr_Clear();
    return p;
}

/* -1: the token is neither (the reference decides), else 1 for token0, 0 for token1 */
static int v3_side(v3_data *d, PyObject *token) {
    if (token == d->token0) return 1;
    if (token == d->token1) return 0;
    if (!PyUnicode_CheckExact(token) || !PyUnicode_Check(d->token0) || !PyUnicode_Check(d->token1))
        return -1;
    if (PyUnicode_Compare(token, d->token0) == 0) return 1;
    if (PyUnicode_Compare(token, d->token1) == 0) return 0;
    PyErr_Clear();
    return -1;
}

static const u256 V3_MIN_LIMIT = {{4295128740ULL, 0, 0, 0}};
static const u256 V3_MAX_LIMIT = {{0x5d951d5263988d25ULL, 0xefd1fc6a50648849ULL,
                                   0x00000000fffd8963ULL, 0}};

/* exact_input 1: amount_out(pool, token_in, amount_in); 0: amount_in(pool, token_in, out) */
static PyObject *v3_quote(PyObject *const *args, size_t nargsf, PyObject *kw, int exact_input) {
    PyObject *ref = exact_input ? ref_v3_amount_out : ref_v3_amount_in;
    if (kw || PyVectorcall_NARGS(nargsf) != 3) return reference(ref, args, nargsf, kw);
    Pack *pack = cached(KIND_V3, args[0], build_v3);
    if (!pack) return NULL;
    v3_data *d = pack->data;
    u256 amount;
    int zfo = pack->ok ? v3_side(d, args[1]) : -1;
    if (zfo < 0 || py_u256(args[2], &amount) || u256_is_zero(&amount)) {
        PyErr_Clear();
        return reference(ref, args, nargsf, kw);
    }
    v3_result res;
    const u256 *limit = zfo ? &V3_MIN_LIMIT : &V3_MAX_LIMIT;
    if (v3_swap(&res, &d->pool, zfo, &amount, exact_input, limit, 0) ||
        !u256_is_zero(&res.remaining))  /* partial fill: the reference raises */
        return reference(ref, args, nargsf, kw);
    int calc_is_0 = zfo != exact_input;  /* the calculated side: the other token's amount */
    return u256_py(calc_is_0 ? &res.amount0 : &res.amount1);
}

static PyObject *fm_v3_amount_out(PyObject *m, PyObject *const *a, size_t n, PyObject *kw) {
    (void)m;
    return v3_quote(a, n, kw, 1);
}

static PyObject *fm_v3_amount_in(PyObject *m, PyObject *const *a, size_t n, PyObject *kw) {
    (void)m;
    return v3_quote(a, n, kw, 0);
}

static PyObject *fm_v3_swap(PyObject *m, PyObject *const *args, size_t nargsf, PyObject *kw) {
    (void)m;
    if (kw || PyVectorcall_NARGS(nargsf) != 4 || !swap_result_type)
        return reference(ref_v3_swap, args, nargsf, kw);
    Pack *pack = cached(KIND_V3, args[0], build_v3);
    if (!pack) return NULL;
    int zfo = PyObject_IsTrue(args[1]), negative = 0;
    u256 amount, limit;
    if (!pack->ok || zfo < 0 || !PyLong_Check(args[2]) || py_u256(args[3], &limit)) {
        PyErr_Clear();
        return reference(ref_v3_swap, args, nargsf, kw);
    }
    PyObject *magnitude = args[2];
    if (_PyLong_Sign(args[2]) < 0) {
        negative = 1;
        magnitude = PyNumber_Negative(args[2]);
        if (!magnitude) return NULL;
    } else {
        Py_INCREF(magnitude);
    }
    int bad = py_u256(magnitude, &amount);
    Py_DECREF(magnitude);
    v3_result r;
    v3_pool *pool = &((v3_data *)pack->data)->pool;
    if (bad || v3_swap(&r, pool, zfo, &amount, !negative, &limit, 1)) {
        PyErr_Clear();
        return reference(ref_v3_swap, args, nargsf, kw);
    }
    PyObject *values[7] = {
        u256_py_signed(&r.amount0, r.neg0), u256_py_signed(&r.amount1, r.neg1),
        u256_py(&r.sqrt_price), PyLong_FromLongLong(r.tick),
        u256_py(&(u256){{(uint64_t)r.liquidity, (uint64_t)(r.liquidity >> 64), 0, 0}}),
        PyLong_FromLongLong(r.crossed), PyLong_FromLongLong(r.steps),
    };
    return frozen_value(swap_result_type, swap_result_fields, values);
}

/* -- registration ------------------------------------------------------------------------ */
static PyObject *fm_register_v3(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *swap, *out, *in, *sr, *srf;
    if (!PyArg_ParseTuple(args, "OOOO", &swap, &out, &in, &sr)) return NULL;
    if (!(srf = field_names(sr))) return NULL;
    if (PyTuple_GET_SIZE(srf) != 7) {
        Py_DECREF(srf);
        PyErr_SetString(PyExc_TypeError, "SwapResult: expected 7 fields");
        return NULL;
    }
    Py_XSETREF(ref_v3_swap, Py_NewRef(swap));
    Py_XSETREF(ref_v3_amount_out, Py_NewRef(out));
    Py_XSETREF(ref_v3_amount_in, Py_NewRef(in));
    Py_XSETREF(swap_result_type, Py_NewRef(sr));
    Py_XSETREF(swap_result_fields, srf);
    Py_RETURN_NONE;
}

#endif
