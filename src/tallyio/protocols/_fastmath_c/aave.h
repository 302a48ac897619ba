/* Aave V3.0 account data on u256, after tallyio/protocols/aave_v3_math.py and
 * aave_v3.calculate_user_account_data (the readable reference). Returns nonzero where the
 * reference raises or any value leaves 256 bits; the caller then asks the reference. */
#ifndef TALLYIO_AAVE_H
#define TALLYIO_AAVE_H

#include "u256.h"

#define AAVE_SECONDS_PER_YEAR 31536000ULL

static const u256 AAVE_RAY = {{0x9fd0803ce8000000ULL, 0x00000000033b2e3cULL, 0, 0}};
static const u256 AAVE_HALF_RAY = {{0x4fe8401e74000000ULL, 0x00000000019d971eULL, 0, 0}};
static const u256 AAVE_WAD = {{1000000000000000000ULL, 0, 0, 0}};
/* RAY = 2**27 * 5**27: a ray division is a shift and a one-limb division by 5**27 */
#define AAVE_RAY_5 7450580596923828125ULL

typedef struct {
    u256 pow10;  /* 10 ** decimals */
    u256 price, ltv, lt, emode_category;
    u256 liquidity_index, liquidity_rate, borrow_index, borrow_rate;
    int64_t last_update;
} aave_reserve;

typedef struct {
    u256 scaled_a, scaled_variable, stable_principal, stable_rate;
    int64_t stable_last_updated;
    int collateral, borrowing;
} aave_position;

typedef struct {
    int active;  /* the account's e-mode category applies */
    u256 id, ltv, lt, price;
} aave_emode;

typedef struct {
    u256 collateral, debt, available, lt, ltv, hf;
    int zero_ltv;
} aave_account;

/* (a * b + half) / (2**shift * d), reverting like WadRayMath when a * b + half passes 256
 * bits; floor(floor(x / 2**k) / d) = floor(x / (2**k * d)) */
static int aave_mul_half_up(u256 *r, const u256 *a, const u256 *b, const u256 *half, int shift,
                            uint64_t d) {
    u256 s;
    if (u256_mul(&s, a, b) || u256_add(&s, &s, half)) return 1;
    if (shift) s = u256_shr(&s, shift);
    u256_div64(r, &s, d);
    return 0;
}

static inline int aave_ray_mul(u256 *r, const u256 *a, const u256 *b) {
    return aave_mul_half_up(r, a, b, &AAVE_HALF_RAY, 27, AAVE_RAY_5);
}

static inline int aave_percent_mul(u256 *r, const u256 *v, const u256 *pct) {
    static const u256 half = {{5000, 0, 0, 0}};
    return aave_mul_half_up(r, v, pct, &half, 0, 10000);
}

/* WadRayMath.wadDiv: (a * WAD + b / 2) / b */
static int aave_wad_div(u256 *r, const u256 *a, const u256 *b) {
    u256 scaled, half = u256_shr(b, 1);
    if (u256_is_zero(b) || u256_mul(&scaled, a, &AAVE_WAD) || u256_add(&scaled, &scaled, &half))
        return 1;
    return u256_divmod(r, NULL, &scaled, b) != 0;
}

/* x = x * y, checked; x = x / small */
static inline int mul_in(u256 *x, const u256 *y) { return u256_mul(x, x, y); }
static inline void div_small(u256 *x, uint64_t d) {
    u256 dd = u256_from64(d);
    u256_divmod(x, NULL, x, &dd);
}

/* MathUtils.calculateLinearInterest */
static int aave_linear_interest(u256 *r, const u256 *rate, int64_t last, int64_t now) {
    __int128 elapsed = (__int128)now - last;
    if (elapsed < 0) return 1;
    u256 t = *rate, e = u256_from128((u128)elapsed);
    if (mul_in(&t, &e)) return 1;
    div_small(&t, AAVE_SECONDS_PER_YEAR);
    return u256_add(r, &AAVE_RAY, &t);
}

/* MathUtils.calculateCompoundedInterest: 1 + x + x^2/2 + x^3/6, each floor in order */
static int aave_compounded_interest(u256 *r, const u256 *rate, int64_t last, int64_t now) {
    __int128 exp = (__int128)now - last;
    if (exp < 0) return 1;
    if (exp == 0) {
        *r = AAVE_RAY;
        return 0;
    }
    u256 e = u256_from128((u128)exp), e1 = u256_from128((u128)(exp - 1));
    u256 e2 = u256_from128((u128)(exp > 2 ? exp - 2 : 0)), bp2, bp3, second, third, first;
    if (aave_ray_mul(&bp2, rate, rate)) return 1;
    div_small(&bp2, AAVE_SECONDS_PER_YEAR * AAVE_SECONDS_PER_YEAR);
    if (aave_ray_mul(&bp3, &bp2, rate)) return 1;
    div_small(&bp3, AAVE_SECONDS_PER_YEAR);
    second = e;
    if (mul_in(&second, &e1) || mul_in(&second, &bp2)) return 1;
    div_small(&second, 2);
    third = e;
    if (mul_in(&third, &e1) || mul_in(&third, &e2) || mul_in(&third, &bp3)) return 1;
    div_small(&third, 6);
    first = *rate;
    if (mul_in(&first, &e)) return 1;
    div_small(&first, AAVE_SECONDS_PER_YEAR);
    return u256_add(r, &AAVE_RAY, &first) || u256_add(r, r, &second) || u256_add(r, r, &third);
}

static int aave_normalized_income(u256 *r, const aave_reserve *res, int64_t ts) {
    u256 f;
    if (res->last_update == ts) {
        *r = res->liquidity_index;
        return 0;
    }
    return aave_linear_interest(&f, &res->liquidity_rate, res->last_update, ts) ||
           aave_ray_mul(r, &f, &res->liquidity_index);
}

static int aave_normalized_debt(u256 *r, const aave_reserve *res, int64_t ts) {
    u256 f;
    if (res->last_update == ts) {
        *r = res->borrow_index;
        return 0;
    }
    return aave_compounded_interest(&f, &res->borrow_rate, res->last_update, ts) ||
           aave_ray_mul(r, &f, &res->borrow_index);
}

/* GenericLogic._getUserDebtInBaseCurrency */
static int aave_debt_in_base(u256 *r, const aave_position *pos, const aave_reserve *res,
                             const u256 *price, int64_t ts) {
    u256 variable = pos->scaled_variable, stable = U256_ZERO, idx, f, total;
    if (!u256_is_zero(&variable)) {
        if (aave_normalized_debt(&idx, res, ts) || aave_ray_mul(&variable, &variable, &idx))
            return 1;
    }
    if (!u256_is_zero(&pos->stable_principal)) {
        if (aave_compounded_interest(&f, &pos->stable_rate, pos->stable_last_updated, ts) ||
            aave_ray_mul(&stable, &pos->stable_principal, &f))
            return 1;
    }
    if (u256_add(&total, &variable, &stable) || u256_mul(&total, price, &total)) return 1;
    return u256_divmod(r, NULL, &total, &res->pow10) != 0;
}

/* one collateral position into the account's sums */
static int aave_add_collateral(aave_account *acc, u256 *w_ltv, u256 *w_lt,
                               const aave_position *pos, const aave_reserve *res,
                               const u256 *price, const aave_emode *em, int64_t ts) {
    u256 income, value, t;
    if (aave_normalized_income(&income, res, ts) || aave_ray_mul(&value, &pos->scaled_a, &income)
        || u256_mul(&value, &value, price))
        return 1;
    u256_divmod(&value, NULL, &value, &res->pow10);
    if (u256_add(&acc->collateral, &acc->collateral, &value)) return 1;
    int in_emode = em->active && u256_cmp(&res->emode_category, &em->id) == 0;
    const u256 *ltv = in_emode ? &em->ltv : &res->ltv, *lt = in_emode ? &em->lt : &res->lt;
    if (!u256_is_zero(&res->ltv)) {
        if (u256_mul(&t, &value, ltv) || u256_add(w_ltv, w_ltv, &t)) return 1;
    } else {
        acc->zero_ltv = 1;
    }
    return u256_mul(&t, &value, lt) || u256_add(w_lt, w_lt, &t);
}

/* (x * pct + 5000) / 10000 on native integers; 1 when the quotient passes 64 bits */
static inline int aave_percent_mul64(uint64_t *r, uint64_t x, uint64_t pct) {
    u128 p = (u128)x * pct + 5000;  /* at most (2**64 - 1)**2 + 5000: no wrap */
    uint64_t rem;
    if ((uint64_t)(p >> 64) >= 10000) return 1;
    *r = div_2by1((uint64_t)(p >> 64), (uint64_t)p, 10000, &rem);
    return 0;
}

/* The sums' last steps (averages, available borrows, health factor) when the sums fit native
 * integers, as they do for any real account: one divide instruction each, against the u256
 * path's loops. Writes acc only when it answers; 1 when the u256 path must. */
static int aave_finish_native(aave_account *acc, const u256 *w_ltv, const u256 *w_lt) {
    if (!u256_fits64(&acc->collateral) || !u256_fits64(&acc->debt) || !u256_fits128(w_ltv) ||
        !u256_fits128(w_lt))
        return 1;
    uint64_t c = acc->collateral.w[0], debt = acc->debt.w[0], ltv = 0, lt = 0, rem;
    uint64_t borrowable, threshold = 0, hf = 0;
    if (c) {
        if (w_ltv->w[1] >= c || w_lt->w[1] >= c) return 1;  /* an average past 64 bits */
        ltv = div_2by1(w_ltv->w[1], w_ltv->w[0], c, &rem);
        lt = div_2by1(w_lt->w[1], w_lt->w[0], c, &rem);
    }
    if (aave_percent_mul64(&borrowable, c, ltv)) return 1;
    if (debt) {  /* wadDiv(percentMul(c, lt), debt) */
        if (aave_percent_mul64(&threshold, c, lt)) return 1;
        u128 scaled = (u128)threshold * 1000000000000000000ULL + (debt >> 1);  /* < 2**125 */
        if ((uint64_t)(scaled >> 64) >= debt) return 1;
        hf = div_2by1((uint64_t)(scaled >> 64), (uint64_t)scaled, debt, &rem);
    }
    acc->ltv = u256_from64(ltv);
    acc->lt = u256_from64(lt);
    acc->available = u256_from64(borrowable >= debt ? borrowable - debt : 0);
    acc->hf = debt ? u256_from64(hf) : U256_MAX;
    return 0;
}

/* GenericLogic.calculateUserAccountData + calculateAvailableBorrows over n positions that are
 * collateral or debt; res[i] is position i's reserve. */
static int aave_account_data(aave_account *acc, const aave_position *pos,
                             const aave_reserve *const *res, Py_ssize_t n,
                             const u256 *user_emode, const aave_emode *em, int64_t ts) {
    u256 w_ltv = U256_ZERO, w_lt = U256_ZERO, t;
    acc->collateral = acc->debt = acc->available = acc->lt = acc->ltv = U256_ZERO;
    acc->hf = U256_ZERO;
    acc->zero_ltv = 0;  /* field by field: a memset here compiles to a slow `rep stos` */
    if (n == 0) {
        acc->hf = U256_MAX;
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        const aave_reserve *r = res[i];
        int emode_price = em->active && !u256_is_zero(&em->price) &&
                          u256_cmp(user_emode, &r->emode_category) == 0;
        const u256 *price = emode_price ? &em->price : &r->price;
        if (!u256_is_zero(&r->lt) && pos[i].collateral &&
            aave_add_collateral(acc, &w_ltv, &w_lt, &pos[i], r, price, em, ts))
            return 1;
        if (pos[i].borrowing) {
            if (aave_debt_in_base(&t, &pos[i], r, price, ts) ||
                u256_add(&acc->debt, &acc->debt, &t))
                return 1;
        }
    }
    if (!aave_finish_native(acc, &w_ltv, &w_lt)) return 0;
    if (!u256_is_zero(&acc->collateral)) {
        u256_divmod(&acc->ltv, NULL, &w_ltv, &acc->collateral);
        u256_divmod(&acc->lt, NULL, &w_lt, &acc->collateral);
    }
    if (aave_percent_mul(&t, &acc->collateral, &acc->ltv)) return 1;
    if (u256_cmp(&t, &acc->debt) >= 0) u256_sub(&acc->available, &t, &acc->debt);
    if (u256_is_zero(&acc->debt)) {
        acc->hf = U256_MAX;
        return 0;
    }
    return aave_percent_mul(&t, &acc->collateral, &acc->lt) || aave_wad_div(&acc->hf, &t, &acc->debt);
}

#endif
