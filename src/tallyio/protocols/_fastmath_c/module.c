/* tallyio.protocols._fastmath: the native fast path beside the readable protocol models.
 *
 * Each public function takes the same arguments as its readable reference and returns the
 * same value. A frozen pool or account is packed into C structs once (kept in a small
 * direct-mapped cache that holds the value alive, so its address stays its identity); a call
 * is then one pass over C integers. Anything outside the fast path - a revert, a value past
 * 256 bits, an unusual argument - is handed to the reference with the caller's arguments, so
 * errors are the reference's own exceptions and messages.
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

/* -- the readable references, registered by the Python modules --------------------------- */
static PyObject *ref_v3_swap, *ref_v3_amount_out, *ref_v3_amount_in, *ref_account_data;
static PyObject *ref_bal_amount_out, *ref_bal_amount_in, *ref_bal_pow;
static PyObject *swap_result_type, *account_data_type;
static PyObject *swap_result_fields, *account_data_fields;  /* tuples of field names */

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

/* -- Uniswap V3 -------------------------------------------------------------------------- */
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

/* -- Aave V3 ----------------------------------------------------------------------------- */
typedef struct {
    Py_ssize_t n;
    u256 emode;
    aave_position *pos;
    PyObject **assets;  /* borrowed from refs */
    /* the reserve packs last looked up, good while the dict's version stays `seen` (0: none) */
    uint64_t seen;
    const aave_reserve **res;
    Pack **rpacks;  /* owned */
} account_data;

static Pack *build_reserve(PyObject *r) {
    Pack *p = pack_new(r, sizeof(aave_reserve));
    if (!p) return NULL;
    aave_reserve *d = p->data;
    int64_t decimals;
    if (attr_i64(r, "decimals", &decimals) || decimals < 0 || decimals > 77 ||
        attr_u256(r, "price", &d->price) || attr_u256(r, "ltv", &d->ltv) ||
        attr_u256(r, "liquidation_threshold", &d->lt) ||
        attr_u256(r, "emode_category", &d->emode_category) ||
        attr_u256(r, "liquidity_index", &d->liquidity_index) ||
        attr_u256(r, "current_liquidity_rate", &d->liquidity_rate) ||
        attr_u256(r, "variable_borrow_index", &d->borrow_index) ||
        attr_u256(r, "current_variable_borrow_rate", &d->borrow_rate) ||
        attr_i64(r, "last_update_timestamp", &d->last_update))
        return p;
    u256 ten = u256_from64(10);
    d->pow10 = u256_from64(1);
    for (int64_t i = 0; i < decimals; i++) u256_mul(&d->pow10, &d->pow10, &ten);
    p->ok = 1;
    return p;
}

static int fill_position(aave_position *pos, PyObject *item) {
    return attr_u256(item, "scaled_a_token_balance", &pos->scaled_a) ||
           attr_u256(item, "scaled_variable_debt", &pos->scaled_variable) ||
           attr_u256(item, "stable_debt_principal", &pos->stable_principal) ||
           attr_u256(item, "stable_rate", &pos->stable_rate) ||
           attr_i64(item, "stable_last_updated", &pos->stable_last_updated);
}

static int account_fill(account_data *d, PyObject *account, Pack *pack) {
    PyObject *positions = PyObject_GetAttrString(account, "positions");
    if (!positions || !PyTuple_Check(positions) || attr_u256(account, "emode_category", &d->emode)) {
        Py_XDECREF(positions);
        return 1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(positions), k = 0;
    d->pos = PyMem_Calloc(n ? n : 1, sizeof(aave_position));
    d->res = PyMem_Calloc(n ? n : 1, sizeof(aave_reserve *));
    d->rpacks = PyMem_Calloc(n ? n : 1, sizeof(Pack *));
    pack->refs = PyTuple_New(n);
    int bad = !d->pos || !d->res || !d->rpacks || !pack->refs;
    for (Py_ssize_t i = 0; !bad && i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(positions, i);
        aave_position *pos = &d->pos[k];
        if (attr_true(item, "using_as_collateral", &pos->collateral) ||
            attr_true(item, "borrowing", &pos->borrowing)) {
            bad = 1;
        } else if (pos->collateral || pos->borrowing) {
            PyObject *asset = PyObject_GetAttrString(item, "asset");
            bad = !asset || fill_position(pos, item);
            if (asset) PyTuple_SET_ITEM(pack->refs, k, asset);
            k++;
        }
    }
    Py_DECREF(positions);
    if (bad) return 1;
    if (_PyTuple_Resize(&pack->refs, k) < 0) return 1;
    d->n = k;
    d->assets = &PyTuple_GET_ITEM(pack->refs, 0);
    return 0;
}

static void account_release(void *data) {
    account_data *d = data;
    for (Py_ssize_t i = 0; d->rpacks && i < d->n; i++) Py_XDECREF(d->rpacks[i]);
    PyMem_Free(d->rpacks);
    PyMem_Free(d->res);
    PyMem_Free(d->pos);
}

static Pack *build_account(PyObject *account) {
    Pack *p = pack_new(account, sizeof(account_data));
    if (!p) return NULL;
    p->release = account_release;
    p->ok = !account_fill(p->data, account, p);
    if (!p->ok) PyErr_Clear();
    return p;
}

static Pack *build_emode(PyObject *e) {
    Pack *p = pack_new(e, sizeof(aave_emode));
    if (!p) return NULL;
    aave_emode *d = p->data;
    p->ok = !(attr_u256(e, "id", &d->id) || attr_u256(e, "ltv", &d->ltv) ||
              attr_u256(e, "liquidation_threshold", &d->lt) || attr_u256(e, "price", &d->price));
    d->active = 1;
    return p;
}

#define MAX_POSITIONS 64

/* the reserve packs of the account's positions, each held (a later lookup may evict it from
 * the cache) until the caller drops them; 1 when the reference must answer */
static int lookup_reserves(const aave_reserve **out, Pack **held, PyObject *reserves,
                           account_data *d) {
    for (Py_ssize_t i = 0; i < d->n; i++) {
        PyObject *r;
        if (PyDict_CheckExact(reserves)) {
            r = PyDict_GetItemWithError(reserves, d->assets[i]);
            Py_XINCREF(r);
        } else {
            r = PyObject_GetItem(reserves, d->assets[i]);
        }
        if (!r) {
            PyErr_Clear();
            return 1;
        }
        Pack *rp = cached(KIND_RESERVE, r, build_reserve);
        Py_DECREF(r);  /* the pack holds it */
        if (!rp || !rp->ok) {
            PyErr_Clear();
            return 1;
        }
        held[i] = (Pack *)Py_NewRef(rp);
        out[i] = rp->data;
    }
    return 0;
}

/* A dict's version tag is globally unique and changes with every change to it (CPython 3.11;
 * later versions hide it, so there every call looks the reserves up). */
static uint64_t dict_version(PyObject *o) {
#if PY_VERSION_HEX < 0x030C0000
    return PyDict_CheckExact(o) ? ((PyDictObject *)o)->ma_version_tag : 0;
#else
    (void)o;
    return 0;
#endif
}

/* The account's reserves: the packs kept from the last lookup while the dict is unchanged,
 * else looked up again (into locals, so a lookup that re-enters cannot mix two mappings) and
 * kept under the dict's version. The packs stay alive in d until the next lookup. */
static int account_reserves(account_data *d, PyObject *reserves) {
    uint64_t version = dict_version(reserves);
    if (version && version == d->seen) return 0;
    const aave_reserve *res[MAX_POSITIONS];
    Pack *held[MAX_POSITIONS] = {NULL};
    if (lookup_reserves(res, held, reserves, d)) {
        for (Py_ssize_t i = 0; i < d->n; i++) Py_XDECREF(held[i]);
        return 1;
    }
    for (Py_ssize_t i = 0; i < d->n; i++) {
        Py_XSETREF(d->rpacks[i], held[i]);  /* steals the lookup's reference */
        d->res[i] = res[i];
    }
    d->seen = version;
    return 0;
}

/* AccountData's slots by offset (found at registration), else -1: set by name */
static Py_ssize_t account_data_offsets[7] = {-1};
static PyObject *u256_max_py;  /* health factor with no debt: built once */

static PyObject *account_data_value(const aave_account *acc) {
    PyObject *values[7] = {
        u256_py(&acc->collateral), u256_py(&acc->debt), u256_py(&acc->available),
        u256_py(&acc->lt), u256_py(&acc->ltv),
        u256_max_py && u256_cmp(&acc->hf, &U256_MAX) == 0 ? Py_NewRef(u256_max_py)
                                                         : u256_py(&acc->hf),
        Py_NewRef(acc->zero_ltv ? Py_True : Py_False),
    };
    if (account_data_offsets[0] < 0)
        return frozen_value(account_data_type, account_data_fields, values);
    PyTypeObject *type = (PyTypeObject *)account_data_type;
    PyObject *obj = NULL;
    for (int i = 0; i < 7; i++) {
        if (!values[i]) goto fail;
    }
    obj = type->tp_alloc(type, 0);
    if (!obj) goto fail;
    for (int i = 0; i < 7; i++) {  /* as the slot's descriptor sets it; steals the values */
        *(PyObject **)((char *)obj + account_data_offsets[i]) = values[i];
    }
    return obj;
fail:
    for (int i = 0; i < 7; i++) Py_XDECREF(values[i]);
    return NULL;
}

static PyObject *fm_aave_account_data(PyObject *m, PyObject *const *args, size_t nargsf,
                                      PyObject *kw) {
    (void)m;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kw || nargs < 3 || nargs > 4 || !account_data_type)
        return reference(ref_account_data, args, nargsf, kw);
    Pack *ap = cached(KIND_ACCOUNT, args[1], build_account);
    if (!ap) return NULL;
    account_data *d = ap->data;
    PyObject *emode = nargs == 4 ? args[3] : Py_None;
    aave_emode none = {0}, *em = &none;
    int64_t ts;
    if (!ap->ok || d->n > MAX_POSITIONS || py_i64(args[2], &ts))
        return reference(ref_account_data, args, nargsf, kw);
    if (!u256_is_zero(&d->emode)) {  /* _emode_for: the category must be the account's */
        Pack *ep = emode == Py_None ? NULL : cached(KIND_EMODE, emode, build_emode);
        if (ep) em = ep->data;
        if (!ep || !ep->ok || u256_cmp(&em->id, &d->emode) != 0) {
            PyErr_Clear();
            return reference(ref_account_data, args, nargsf, kw);
        }
    }
    /* the account pack is held while its packs are read: a lookup may evict it */
    Py_INCREF(ap);
    aave_account acc;
    int bad = account_reserves(d, args[0]) ||
              aave_account_data(&acc, d->pos, d->res, d->n, &d->emode, em, ts);
    Py_DECREF(ap);
    if (bad) return reference(ref_account_data, args, nargsf, kw);
    return account_data_value(&acc);
}

/* -- Balancer V2 weighted ---------------------------------------------------------------- */
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

static PyObject *fm_register_aave(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *acct, *ad, *adf;
    if (!PyArg_ParseTuple(args, "OO", &acct, &ad)) return NULL;
    if (!(adf = field_names(ad))) return NULL;
    if (PyTuple_GET_SIZE(adf) != 7) {
        Py_DECREF(adf);
        PyErr_SetString(PyExc_TypeError, "AccountData: expected 7 fields");
        return NULL;
    }
    Py_XSETREF(ref_account_data, Py_NewRef(acct));
    Py_XSETREF(account_data_type, Py_NewRef(ad));
    Py_XSETREF(account_data_fields, adf);
    if (!slot_offsets(ad, adf, account_data_offsets)) PyErr_Clear();
    if (!u256_max_py && !(u256_max_py = _PyLong_FromByteArray(
                              (const unsigned char *)U256_MAX.w, 32, 1, 0)))
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *fm_register_balancer(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *out, *in, *pow;
    if (!PyArg_ParseTuple(args, "OOO", &out, &in, &pow)) return NULL;
    Py_XSETREF(ref_bal_amount_out, Py_NewRef(out));
    Py_XSETREF(ref_bal_amount_in, Py_NewRef(in));
    Py_XSETREF(ref_bal_pow, Py_NewRef(pow));
    Py_RETURN_NONE;
}

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
