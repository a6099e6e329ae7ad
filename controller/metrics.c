/* The metrics registry: families of series kept in arrays with an
 * open-addressing index on the label values, one mutex per family (updates of
 * different families never contend) and one for the family list. Rendering
 * copies nothing: it holds each family's lock while printing it. */
#include "controller/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct series {
    char **values;     /* nlabels owned strings */
    double value;      /* counter / gauge */
    uint64_t *buckets; /* histogram: nbuckets + 1 non-cumulative counts (last: +Inf) */
    double sum;
    uint64_t count;
};

struct ctl_metric {
    struct ctl_registry *reg;
    enum ctl_metric_type type;
    char *name;
    char *help;
    char **labels;
    size_t nlabels;
    double *buckets;
    size_t nbuckets;
    size_t max_series;
    pthread_mutex_t mu;
    struct series **series;
    size_t nseries, cap;
    size_t *index; /* slot -> series position + 1; 0 = empty */
    size_t index_cap;
};

struct ctl_registry {
    pthread_mutex_t mu;
    struct ctl_metric **fams;
    size_t n, cap;
    struct ctl_metric *dropped; /* retl_metrics_dropped_series_total{metric} */
};

const double ctl_metrics_default_buckets[CTL_METRICS_DEFAULT_NBUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

const double ctl_metrics_reconcile_buckets[CTL_METRICS_RECONCILE_NBUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1,  0.15, 0.2,  0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6,
    0.7,   0.8,  0.9,   1.0,  1.25, 1.5,  1.75, 2.0,  2.5, 3.0,  3.5, 4.0,  4.5, 5,
    6,     7,    8,     9,    10,   15,   20,   25,   30,  40,   50,  60};

/* ---- names and values ---- */

static bool valid_name(const char *s, bool colon)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon && c == ':') || (p != s && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

char *ctl_metrics_format_value(double v, char *buf, size_t n)
{
    if (isnan(v)) {
        snprintf(buf, n, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, n, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, n, "%.0f", v == 0 ? 0.0 : v); /* no "-0" */
    } else {
        /* Shortest text that reads back as the same double (Go's 'g', -1). */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, n, "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    }
    return buf;
}

static retl_err add_escaped(struct retl_buf *b, const char *s, bool quote)
{
    retl_err e = RETL_E_OK;
    for (const char *p = s; *p && !e; p++) {
        if (*p == '\\')
            e = retl_buf_add(b, "\\\\", 2);
        else if (*p == '\n')
            e = retl_buf_add(b, "\\n", 2);
        else if (quote && *p == '"')
            e = retl_buf_add(b, "\\\"", 2);
        else
            e = retl_buf_addc(b, *p);
    }
    return e;
}

/* ---- registry ---- */

static void family_free(struct ctl_metric *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nseries; i++) {
        struct series *s = m->series[i];
        for (size_t j = 0; j < m->nlabels; j++)
            free(s->values[j]);
        free(s->values);
        free(s->buckets);
        free(s);
    }
    free(m->series);
    free(m->index);
    for (size_t j = 0; j < m->nlabels; j++)
        free(m->labels[j]);
    free(m->labels);
    free(m->buckets);
    free(m->name);
    free(m->help);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

retl_err ctl_metrics_registry_new(struct ctl_registry **out)
{
    struct ctl_registry *r = calloc(1, sizeof *r);
    if (!r)
        return RETL_E_NOMEM;
    pthread_mutex_init(&r->mu, NULL);
    struct ctl_metric_def d = {
        .type = CTL_METRIC_COUNTER,
        .name = "retl_metrics_dropped_series_total",
        .help = "Metric updates dropped because the metric reached its series limit.",
        .labels = (const char *const[]){"metric", NULL},
        .max_series = 1000,
    };
    retl_err e = ctl_metrics_register(r, &d, &r->dropped, NULL);
    if (e) {
        ctl_metrics_registry_free(r);
        return e;
    }
    *out = r;
    return RETL_E_OK;
}

void ctl_metrics_registry_free(struct ctl_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        family_free(r->fams[i]);
    free(r->fams);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static retl_err family_new(const struct ctl_metric_def *def, struct ctl_metric **out,
                           struct retl_errbuf *eb)
{
    if (!valid_name(def->name, true))
        return retl_errf(eb, RETL_E_INVALID, "invalid metric name \"%s\"",
                         def->name ? def->name : "");
    size_t nl = 0;
    while (def->labels && def->labels[nl]) {
        const char *l = def->labels[nl];
        if (!valid_name(l, false) || strncmp(l, "__", 2) == 0)
            return retl_errf(eb, RETL_E_INVALID, "%s: invalid label name \"%s\"",
                             def->name, l);
        if (def->type == CTL_METRIC_HISTOGRAM && strcmp(l, "le") == 0)
            return retl_errf(eb, RETL_E_INVALID, "%s: a histogram cannot have label le",
                             def->name);
        for (size_t j = 0; j < nl; j++)
            if (strcmp(def->labels[j], l) == 0)
                return retl_errf(eb, RETL_E_INVALID, "%s: duplicate label \"%s\"",
                                 def->name, l);
        if (++nl > CTL_METRICS_MAX_LABELS)
            return retl_errf(eb, RETL_E_INVALID, "%s: more than %d labels", def->name,
                             CTL_METRICS_MAX_LABELS);
    }
    const double *bk = NULL;
    size_t nb = 0;
    if (def->type == CTL_METRIC_HISTOGRAM) {
        bk = def->buckets ? def->buckets : ctl_metrics_default_buckets;
        nb = def->buckets ? def->nbuckets : CTL_METRICS_DEFAULT_NBUCKETS;
        if (nb == 0)
            return retl_errf(eb, RETL_E_INVALID, "%s: no buckets", def->name);
        for (size_t i = 0; i < nb; i++)
            if (isnan(bk[i]) || isinf(bk[i]) || (i > 0 && bk[i] <= bk[i - 1]))
                return retl_errf(eb, RETL_E_INVALID,
                                 "%s: buckets must be finite and strictly increasing",
                                 def->name);
    }

    retl_err e = RETL_E_NOMEM;
    struct ctl_metric *m = calloc(1, sizeof *m);
    if (!m)
        return RETL_E_NOMEM;
    pthread_mutex_init(&m->mu, NULL);
    m->type = def->type;
    m->max_series = def->max_series ? def->max_series : CTL_METRICS_DEFAULT_MAX_SERIES;
    m->name = strdup(def->name);
    m->help = strdup(def->help ? def->help : "");
    m->labels = calloc(nl ? nl : 1, sizeof *m->labels);
    if (!m->name || !m->help || !m->labels)
        goto out;
    for (; m->nlabels < nl; m->nlabels++)
        if (!(m->labels[m->nlabels] = strdup(def->labels[m->nlabels])))
            goto out;
    if (nb) {
        if (!(m->buckets = malloc(nb * sizeof *m->buckets)))
            goto out;
        memcpy(m->buckets, bk, nb * sizeof *bk);
        m->nbuckets = nb;
    }
    e = RETL_E_OK;
out:
    if (e) {
        family_free(m);
        return e;
    }
    *out = m;
    return RETL_E_OK;
}

retl_err ctl_metrics_register(struct ctl_registry *r, const struct ctl_metric_def *def,
                              struct ctl_metric **out, struct retl_errbuf *eb)
{
    if (!r || !def || !out)
        return retl_errf(eb, RETL_E_INVALID, "ctl_metrics_register: NULL argument");
    struct ctl_metric *m = NULL;
    retl_err e = family_new(def, &m, eb);
    if (e)
        return e;
    m->reg = r;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->fams[i]->name, m->name) == 0) {
            e = retl_errf(eb, RETL_E_ALREADY_EXISTS, "metric %s already registered",
                          m->name);
            goto out;
        }
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct ctl_metric **f = realloc(r->fams, cap * sizeof *f);
        if (!f) {
            e = RETL_E_NOMEM;
            goto out;
        }
        r->fams = f;
        r->cap = cap;
    }
    r->fams[r->n++] = m;
out:
    pthread_mutex_unlock(&r->mu);
    if (e) {
        family_free(m);
        return e;
    }
    *out = m;
    return RETL_E_OK;
}

/* ---- series lookup (family lock held) ---- */

static size_t hash_values(const struct ctl_metric *m, const char *const *values)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < m->nlabels; i++) {
        for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;
    }
    return (size_t)h;
}

static bool same_values(const struct ctl_metric *m, const struct series *s,
                        const char *const *values)
{
    for (size_t i = 0; i < m->nlabels; i++)
        if (strcmp(s->values[i], values[i]) != 0)
            return false;
    return true;
}

static retl_err check_values(const struct ctl_metric *m, const char *const *values)
{
    if (m->nlabels && !values)
        return RETL_E_INVALID;
    for (size_t i = 0; i < m->nlabels; i++)
        if (!values[i] || strlen(values[i]) > CTL_METRICS_MAX_VALUE_LEN)
            return RETL_E_INVALID;
    return RETL_E_OK;
}

/* Position of the index slot holding values, or of the empty slot where they
 * would go. index_cap is a power of two and never full. */
static size_t index_slot(const struct ctl_metric *m, const char *const *values)
{
    size_t mask = m->index_cap - 1;
    size_t i = hash_values(m, values) & mask;
    while (m->index[i] && !same_values(m, m->series[m->index[i] - 1], values))
        i = (i + 1) & mask;
    return i;
}

/* Refills the index from the series array (after a deletion moved series);
 * needs no memory, so it cannot leave a stale index behind. */
static void index_refill(struct ctl_metric *m)
{
    if (!m->index_cap)
        return;
    memset(m->index, 0, m->index_cap * sizeof *m->index);
    for (size_t k = 0; k < m->nseries; k++)
        m->index[index_slot(m, (const char *const *)m->series[k]->values)] = k + 1;
}

static retl_err index_rebuild(struct ctl_metric *m, size_t cap)
{
    size_t *idx = calloc(cap, sizeof *idx);
    if (!idx)
        return RETL_E_NOMEM;
    free(m->index);
    m->index = idx;
    m->index_cap = cap;
    index_refill(m);
    return RETL_E_OK;
}

static struct series *series_find(struct ctl_metric *m, const char *const *values)
{
    if (!m->index_cap)
        return NULL;
    size_t slot = index_slot(m, values);
    return m->index[slot] ? m->series[m->index[slot] - 1] : NULL;
}

static void series_free(const struct ctl_metric *m, struct series *s)
{
    for (size_t j = 0; j < m->nlabels; j++)
        free(s->values[j]);
    free(s->values);
    free(s->buckets);
    free(s);
}

/* Finds or creates the series; RETL_E_LIMIT when creating it would pass the bound. */
static retl_err series_get(struct ctl_metric *m, const char *const *values,
                           struct series **out)
{
    struct series *s = series_find(m, values);
    if (s) {
        *out = s;
        return RETL_E_OK;
    }
    if (m->nseries >= m->max_series)
        return RETL_E_LIMIT;
    if (m->nseries == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        struct series **a = realloc(m->series, cap * sizeof *a);
        if (!a)
            return RETL_E_NOMEM;
        m->series = a;
        m->cap = cap;
    }
    if ((m->nseries + 1) * 2 > m->index_cap) {
        retl_err e = index_rebuild(m, m->index_cap ? m->index_cap * 2 : 16);
        if (e)
            return e;
    }
    s = calloc(1, sizeof *s);
    if (!s)
        return RETL_E_NOMEM;
    s->values = calloc(m->nlabels ? m->nlabels : 1, sizeof *s->values);
    if (!s->values)
        goto nomem;
    for (size_t j = 0; j < m->nlabels; j++)
        if (!(s->values[j] = strdup(values[j])))
            goto nomem;
    if (m->type == CTL_METRIC_HISTOGRAM &&
        !(s->buckets = calloc(m->nbuckets + 1, sizeof *s->buckets)))
        goto nomem;
    m->index[index_slot(m, values)] = m->nseries + 1;
    m->series[m->nseries++] = s;
    *out = s;
    return RETL_E_OK;
nomem:
    series_free(m, s);
    return RETL_E_NOMEM;
}

enum op { OP_ADD, OP_SET, OP_OBSERVE, OP_TOUCH };

static retl_err update(struct ctl_metric *m, enum op op, double v,
                       const char *const *values)
{
    if (!m)
        return RETL_E_INVALID;
    retl_err e = check_values(m, values);
    if (e)
        return e;
    bool ok = op == OP_TOUCH || (op == OP_OBSERVE && m->type == CTL_METRIC_HISTOGRAM) ||
              (op == OP_SET && m->type == CTL_METRIC_GAUGE) ||
              (op == OP_ADD && m->type == CTL_METRIC_GAUGE) ||
              (op == OP_ADD && m->type == CTL_METRIC_COUNTER && v >= 0);
    if (!ok)
        return RETL_E_INVALID;

    pthread_mutex_lock(&m->mu);
    struct series *s = NULL;
    e = series_get(m, values, &s);
    if (!e) {
        switch (op) {
        case OP_ADD: s->value += v; break;
        case OP_SET: s->value = v; break;
        case OP_OBSERVE: {
            size_t i = 0;
            while (i < m->nbuckets && v > m->buckets[i])
                i++;
            s->buckets[i]++; /* i == nbuckets: only +Inf */
            s->sum += v;
            s->count++;
            break;
        }
        case OP_TOUCH: break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    /* Counted after unlocking: the dropped family has its own lock. */
    if (e == RETL_E_LIMIT && m->reg && m != m->reg->dropped)
        update(m->reg->dropped, OP_ADD, 1, CTL_LV(m->name));
    return e;
}

retl_err ctl_metrics_counter_add(struct ctl_metric *m, double v,
                                 const char *const *values)
{
    if (m && m->type != CTL_METRIC_COUNTER)
        return RETL_E_INVALID;
    return update(m, OP_ADD, v, values);
}

retl_err ctl_metrics_gauge_set(struct ctl_metric *m, double v, const char *const *values)
{
    return update(m, OP_SET, v, values);
}

retl_err ctl_metrics_gauge_add(struct ctl_metric *m, double v, const char *const *values)
{
    if (m && m->type != CTL_METRIC_GAUGE)
        return RETL_E_INVALID;
    return update(m, OP_ADD, v, values);
}

retl_err ctl_metrics_observe(struct ctl_metric *m, double v, const char *const *values)
{
    if (isnan(v))
        return RETL_E_INVALID;
    return update(m, OP_OBSERVE, v, values);
}

retl_err ctl_metrics_touch(struct ctl_metric *m, const char *const *values)
{
    return update(m, OP_TOUCH, 0, values);
}

retl_err ctl_metrics_value(struct ctl_metric *m, const char *const *values, double *out)
{
    if (!m || m->type == CTL_METRIC_HISTOGRAM || check_values(m, values))
        return RETL_E_INVALID;
    pthread_mutex_lock(&m->mu);
    struct series *s = series_find(m, values);
    if (s)
        *out = s->value;
    pthread_mutex_unlock(&m->mu);
    return s ? RETL_E_OK : RETL_E_NOT_FOUND;
}

size_t ctl_metrics_series_count(struct ctl_metric *m)
{
    pthread_mutex_lock(&m->mu);
    size_t n = m->nseries;
    pthread_mutex_unlock(&m->mu);
    return n;
}

/* Deletes series k (family lock held); the index is rebuilt by the caller. */
static void series_delete(struct ctl_metric *m, size_t k)
{
    series_free(m, m->series[k]);
    memmove(&m->series[k], &m->series[k + 1], (m->nseries - k - 1) * sizeof *m->series);
    m->nseries--;
}

retl_err ctl_metrics_remove(struct ctl_metric *m, const char *const *values)
{
    if (!m || check_values(m, values))
        return RETL_E_INVALID;
    retl_err e = RETL_E_NOT_FOUND;
    pthread_mutex_lock(&m->mu);
    for (size_t k = 0; k < m->nseries; k++) {
        if (same_values(m, m->series[k], values)) {
            series_delete(m, k);
            index_refill(m);
            e = RETL_E_OK;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return e;
}

size_t ctl_metrics_remove_matching(struct ctl_metric *m, const char *const *names,
                                   const char *const *values, size_t n)
{
    if (!m || n > CTL_METRICS_MAX_LABELS)
        return 0;
    size_t pos[CTL_METRICS_MAX_LABELS];
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < m->nlabels && strcmp(m->labels[j], names[i]) != 0)
            j++;
        if (j == m->nlabels || !values[i])
            return 0;
        pos[i] = j;
    }
    size_t removed = 0;
    pthread_mutex_lock(&m->mu);
    for (size_t k = 0; k < m->nseries;) {
        bool match = true;
        for (size_t i = 0; i < n && match; i++)
            match = strcmp(m->series[k]->values[pos[i]], values[i]) == 0;
        if (match) {
            series_delete(m, k);
            removed++;
        } else {
            k++;
        }
    }
    if (removed)
        index_refill(m);
    pthread_mutex_unlock(&m->mu);
    return removed;
}

/* ---- rendering ---- */

static int cmp_family(const void *a, const void *b)
{
    const struct ctl_metric *x = *(const struct ctl_metric *const *)a;
    const struct ctl_metric *y = *(const struct ctl_metric *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_series(const void *a, const void *b, void *nlabels)
{
    const struct series *x = *(const struct series *const *)a;
    const struct series *y = *(const struct series *const *)b;
    for (size_t i = 0; i < *(const size_t *)nlabels; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c)
            return c;
    }
    return 0;
}

/* name{l1="v1",...[,le="x"]} value\n */
static retl_err render_sample(struct retl_buf *b, const struct ctl_metric *m,
                              const struct series *s, const char *suffix, const char *le,
                              double v)
{
    char num[64];
    retl_err e = retl_buf_printf(b, "%s%s", m->name, suffix);
    if (!e && (m->nlabels || le)) {
        e = retl_buf_addc(b, '{');
        for (size_t i = 0; i < m->nlabels && !e; i++) {
            e = retl_buf_printf(b, "%s%s=\"", i ? "," : "", m->labels[i]);
            if (!e)
                e = add_escaped(b, s->values[i], true);
            if (!e)
                e = retl_buf_addc(b, '"');
        }
        if (!e && le)
            e = retl_buf_printf(b, "%sle=\"%s\"", m->nlabels ? "," : "", le);
        if (!e)
            e = retl_buf_addc(b, '}');
    }
    if (!e)
        e = retl_buf_printf(b, " %s\n", ctl_metrics_format_value(v, num, sizeof num));
    return e;
}

static retl_err render_family(struct retl_buf *b, struct ctl_metric *m)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    retl_err e = retl_buf_printf(b, "# HELP %s ", m->name);
    if (!e)
        e = add_escaped(b, m->help, false);
    if (!e)
        e = retl_buf_printf(b, "\n# TYPE %s %s\n", m->name, types[m->type]);
    if (e || !m->nseries)
        return e;

    struct series **sorted = malloc(m->nseries * sizeof *sorted);
    if (!sorted)
        return RETL_E_NOMEM;
    memcpy(sorted, m->series, m->nseries * sizeof *sorted);
    qsort_r(sorted, m->nseries, sizeof *sorted, cmp_series, &m->nlabels);

    for (size_t k = 0; k < m->nseries && !e; k++) {
        const struct series *s = sorted[k];
        if (m->type != CTL_METRIC_HISTOGRAM) {
            e = render_sample(b, m, s, "", NULL, s->value);
            continue;
        }
        uint64_t cum = 0;
        char le[64];
        for (size_t i = 0; i <= m->nbuckets && !e; i++) {
            cum += s->buckets[i];
            if (i < m->nbuckets)
                ctl_metrics_format_value(m->buckets[i], le, sizeof le);
            else
                snprintf(le, sizeof le, "+Inf");
            e = render_sample(b, m, s, "_bucket", le, (double)cum);
        }
        if (!e)
            e = render_sample(b, m, s, "_sum", NULL, s->sum);
        if (!e)
            e = render_sample(b, m, s, "_count", NULL, (double)s->count);
    }
    free(sorted);
    return e;
}

retl_err ctl_metrics_render(struct ctl_registry *r, struct retl_buf *out)
{
    if (!r || !out)
        return RETL_E_INVALID;
    pthread_mutex_lock(&r->mu);
    size_t n = r->n;
    struct ctl_metric **fams = malloc((n ? n : 1) * sizeof *fams);
    if (fams)
        memcpy(fams, r->fams, n * sizeof *fams);
    pthread_mutex_unlock(&r->mu);
    if (!fams)
        return RETL_E_NOMEM;
    /* Families are never removed before the registry is freed, so the copied
     * pointers stay valid. */
    qsort(fams, n, sizeof *fams, cmp_family);
    retl_err e = RETL_E_OK;
    for (size_t i = 0; i < n && !e; i++) {
        pthread_mutex_lock(&fams[i]->mu);
        e = render_family(out, fams[i]);
        pthread_mutex_unlock(&fams[i]->mu);
    }
    free(fams);
    return e;
}
