/* Aave V3's Python glue, included by module.c after its shared helpers (the u256 conversions,
 * the pack cache, reference(), slot_offsets()): ReserveData, UserAccount and EModeCategory
 * packed into aave.h's structs, aave_account_data, and the registration of its reference. */
#ifndef TALLYIO_AAVE_GLUE_H
#define TALLYIO_AAVE_GLUE_H

#include "aave.h"

/* the readable reference and AccountData, registered by aave_v3_fast */
static PyObject *ref_account_data, *account_data_type;
static PyObject *account_data_fields;  /* a tuple of field names */

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

/* -- registration ------------------------------------------------------------------------ */
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

#endif
