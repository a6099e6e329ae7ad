/* The run state machine (DESIGN.md section 5): describe the query, validate
 * the destination, materialise the query once, compute the delta inside the
 * warehouse, stream it in batches to the destination, and after each batch
 * the destination acknowledged commit its successes into the snapshot and
 * its failures into the errors table in one source transaction. */
#include "engine/run.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/utf8.h"
#include "engine/dest/dest.h"
#include "engine/base/progress.h"
#include "engine/base/state.h"

volatile sig_atomic_t eng_stop_requested;

bool eng_diff_parse(const char *s, enum eng_diff *out)
{
    if (!s || !*s) {
        /* The fastest in bench/engine-postgres.sh (see engine/README.md). */
        *out = ENG_DIFF_HASH;
        return true;
    }
    if (strcmp(s, "join") == 0) {
        *out = ENG_DIFF_JOIN;
        return true;
    }
    if (strcmp(s, "except") == 0) {
        *out = ENG_DIFF_EXCEPT;
        return true;
    }
    if (strcmp(s, "hash") == 0) {
        *out = ENG_DIFF_HASH;
        return true;
    }
    return false;
}

const char *eng_diff_name(enum eng_diff d)
{
    return d == ENG_DIFF_EXCEPT ? "except" : d == ENG_DIFF_HASH ? "hash" : "join";
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* What is loaded: the key (when it has a destination) and every mapping,
 * each pointing at its state column. */
struct outcols {
    struct eng_col *cols; /* owned array; strings borrowed from the job */
    size_t *vidx;         /* state column of each */
    size_t n;
};

static void outcols_free(struct outcols *o)
{
    free(o->cols);
    free(o->vidx);
    memset(o, 0, sizeof *o);
}

static retl_err outcols_build(const struct retl_job *job, const struct eng_state *st,
                              struct outcols *o, struct retl_errbuf *eb)
{
    size_t cap = job->n_mappings + 1;
    o->cols = calloc(cap, sizeof *o->cols);
    o->vidx = calloc(cap, sizeof *o->vidx);
    o->n = 0;
    if (!o->cols || !o->vidx) {
        outcols_free(o);
        return RETL_E_NOMEM;
    }
    if (job->key.destination) {
        o->cols[0] = (struct eng_col){.source = job->key.source,
                                      .destination = job->key.destination,
                                      .type = st->cols[0].type,
                                      .is_key = true};
        o->vidx[0] = 0;
        o->n = 1;
    }
    for (size_t i = 0; i < job->n_mappings; i++) {
        const struct retl_mapping *m = &job->mappings[i];
        bool dup = false;
        for (size_t j = 0; j < o->n; j++)
            dup |= strcmp(o->cols[j].destination, m->destination) == 0;
        if (dup) {
            if (job->key.destination &&
                strcmp(m->destination, job->key.destination) == 0 &&
                strcmp(m->source, job->key.source) == 0)
                continue;
            outcols_free(o);
            return retl_errf(eb, RETL_E_CONFIG,
                             "spec.mappings: destination field \"%s\" is "
                             "mapped more than once",
                             m->destination);
        }
        int at = eng_state_col(st, m->source);
        o->cols[o->n] = (struct eng_col){.source = m->source,
                                         .destination = m->destination,
                                         .type = st->cols[at].type,
                                         .is_key = false,
                                         .skip_nulls = m->nulls == RETL_NULLS_SKIP,
                                         .lookup_object = m->lookup_object,
                                         .lookup_field = m->lookup_field};
        o->vidx[o->n++] = (size_t)at;
    }
    return RETL_E_OK;
}

static const char *op_name(enum retl_mode m)
{
    return m == RETL_MODE_INSERT ? "insert" : m == RETL_MODE_UPDATE ? "update" : "upsert";
}

static enum eng_op op_of(enum retl_mode m)
{
    return m == RETL_MODE_INSERT   ? ENG_OP_INSERT
           : m == RETL_MODE_UPDATE ? ENG_OP_UPDATE
                                   : ENG_OP_UPSERT;
}

/* Everything a run holds open. */
struct run {
    const struct eng_ctx *c;
    const struct eng_source_ops *src;
    const struct eng_dest_ops *dst;
    void *sctx, *dctx;
    struct eng_state st;
    struct outcols oc;
    json_t *info;
    struct eng_progress prog;
};

static retl_err backends(struct run *r, bool need_dest, struct retl_errbuf *eb)
{
    const struct retl_job *job = r->c->job;
    r->src = eng_source_find(job->source.type);
    if (!r->src)
        return retl_errf(eb, RETL_E_UNSUPPORTED,
                         "source type \"%s\" is not supported by this engine",
                         job->source.type ? job->source.type : "");
    if (!need_dest)
        return RETL_E_OK;
    r->dst = eng_dest_find(job->destination.type);
    if (!r->dst)
        return retl_errf(eb, RETL_E_UNSUPPORTED,
                         "destination type \"%s\" is not supported by this "
                         "engine",
                         job->destination.type ? job->destination.type : "");
    return RETL_E_OK;
}

static void run_close(struct run *r)
{
    if (r->dctx)
        r->dst->close(r->dctx);
    if (r->sctx)
        r->src->close(r->sctx);
    r->dctx = r->sctx = NULL;
    outcols_free(&r->oc);
    eng_state_free(&r->st);
    json_decref(r->info);
    r->info = NULL;
}

/* Spec features this engine cannot honour yet fail the run before anything
 * is touched rather than being ignored. */
static retl_err features_supported(const struct run *r, struct retl_errbuf *eb)
{
    const struct retl_job *job = r->c->job;
    bool del = job->deletes == RETL_DELETES_DELETE,
         clr = job->deletes == RETL_DELETES_CLEAR;
    if ((del || clr) && !r->src->deletes)
        return retl_errf(eb, RETL_E_UNSUPPORTED,
                         "spec.deletes.mode %s: the %s source does not propagate deletes "
                         "yet (use Ignore)",
                         retl_deletes_name(job->deletes), r->src->type);
    if ((del && !r->dst->can_delete) || (clr && !r->dst->can_clear))
        return retl_errf(eb, RETL_E_UNSUPPORTED,
                         "spec.deletes.mode %s: the %s destination cannot %s records "
                         "yet (use Ignore)",
                         retl_deletes_name(job->deletes), r->dst->type,
                         del ? "delete" : "clear");
    for (size_t i = 0; i < job->n_mappings; i++) {
        if (job->mappings[i].lookup_object && !r->dst->can_lookup)
            return retl_errf(eb, RETL_E_UNSUPPORTED,
                             "spec.mappings[%zu].lookup: the %s destination does not "
                             "resolve lookups yet",
                             i, r->dst->type);
    }
    return RETL_E_OK;
}

/* Whether a run's propagated deletes exceed spec.deletes.maxPercent of the
 * keys the job synced (exactly maxPercent passes). */
static bool delete_guard_trips(const struct retl_job *job,
                               const struct eng_delta_counts *dc)
{
    if (dc->deleted <= 0 || job->deletes_max_percent >= 100)
        return false;
    return (double)dc->deleted * 100.0 > job->deletes_max_percent * (double)dc->synced;
}

/* Everything before the delta: connect, lock, describe, validate the
 * destination, prepare state, stage, diff. */
/* *state gets state_init's result bits (ENG_STATE_REBASED, _RESETTING). */
static retl_err run_prepare(struct run *r, unsigned flags, struct eng_delta_counts *dc,
                            unsigned *state, struct retl_errbuf *eb)
{
    const struct eng_ctx *c = r->c;
    const struct retl_job *job = c->job;
    retl_err rc;
    double t0;
    if ((rc = backends(r, true, eb)) || (rc = eng_state_from_job(job, &r->st, eb)))
        return rc;
    if ((rc = features_supported(r, eb)))
        return rc;
    atomic_store(&r->prog.phase, "connecting");
    if (c->retry_failed)
        flags |= ENG_SRC_RETRY_FAILED;
    if (r->dst->record_ids)
        flags |= ENG_SRC_DEST_IDS;
    if ((rc = r->src->open(job, c->src_sec, flags, &r->sctx, eb)))
        return rc;
    if ((rc = r->src->lock(r->sctx, &r->st, eb)))
        return rc;
    if ((rc = r->src->describe(r->sctx, job, &r->st, eb)))
        return rc;
    if ((rc = outcols_build(job, &r->st, &r->oc, eb)))
        return rc;
    if (!c->dst_sec)
        return retl_errf(eb, RETL_E_CONFIG, "no destination secret");
    if ((rc = r->dst->open(job, c->dst_sec, &r->dctx, eb)))
        return rc;
    r->info = json_object();
    if (!r->info)
        return RETL_E_NOMEM;
    if ((rc = r->dst->prepare(r->dctx, r->oc.cols, r->oc.n, r->info, eb)))
        return rc;
    unsigned req = (c->resync ? ENG_STATE_RESYNC : 0) | (c->reset ? ENG_STATE_RESET : 0);
    if ((rc = r->src->state_init(r->sctx, &r->st, req, state, eb)))
        return rc;
    if ((*state & ENG_STATE_REBASED) && c->resync)
        RETL_LOG_INFO("resync requested: starting a new baseline; every row is "
                      "sent again, keys already inserted are kept for Insert mode",
                      RF_S("job", job->name));
    else if (*state & ENG_STATE_REBASED)
        RETL_LOG_WARN("the spec changed what the snapshot means (query, key, "
                      "mappings or destination): starting a new baseline; "
                      "every row is sent again, keys already inserted are "
                      "kept for Insert mode",
                      RF_S("job", job->name), RF_S("fingerprint", r->st.fingerprint));
    if (*state & ENG_STATE_RESETTING)
        RETL_LOG_INFO("reset: every current row is recorded as synced and nothing is "
                      "sent",
                      RF_S("job", job->name), RF_B("requested", c->reset));
    atomic_store(&r->prog.phase, "staging");
    t0 = now_s();
    if ((rc = r->src->stage(r->sctx, job, &r->st, &dc->extracted, eb)))
        return rc;
    atomic_store(&r->prog.extracted, dc->extracted);
    double t1 = now_s();
    atomic_store(&r->prog.phase, "diffing");
    if ((rc = r->src->diff(r->sctx, &r->st, job->mode, c->diff, dc, eb)))
        return rc;
    atomic_store(&r->prog.extracted, dc->extracted);
    atomic_store(&r->prog.delta, dc->new_keys + dc->changed);
    RETL_LOG_INFO("delta computed", RF_I("extracted", dc->extracted),
                  RF_I("newKeys", dc->new_keys), RF_I("changed", dc->changed),
                  RF_I("deleted", dc->deleted),
                  RF_I("skippedPermanent", dc->skipped_permanent),
                  RF_S("strategy", eng_diff_name(c->diff)), RF_D("stageSeconds", t1 - t0),
                  RF_D("diffSeconds", now_s() - t1));
    return RETL_E_OK;
}

struct loadstate {
    struct eng_row *rows; /* a chunk's rows: writes first, then deletes */
    const char **vals;
    struct eng_row_result *res; /* per chunk row */
    struct eng_row_result *sub; /* per sub-batch row */
    size_t *map;                /* sub-batch row -> chunk row */
};

/* What a saved batch counts. */
struct tally {
    long long ins, upd, del, clr, bad;
};

/* The batch whose state transaction is still in flight (source commit_wait)
 * and what it counts once saved. */
struct pending {
    struct run *r;
    struct retl_summary *s;
    bool on;
    struct tally t;
};

static void count(struct run *r, struct retl_summary *s, const struct tally *t)
{
    s->inserted += t->ins;
    s->updated += t->upd;
    s->deleted += t->del;
    s->cleared += t->clr;
    s->failed += t->bad;
    atomic_store(&r->prog.loaded, s->inserted + s->updated + s->deleted + s->cleared);
    atomic_store(&r->prog.failed, s->failed);
}

/* Waits for the pending batch's state transaction; counts it once saved. */
static retl_err settle(struct pending *p, struct retl_errbuf *eb)
{
    if (!p->on)
        return RETL_E_OK;
    p->on = false;
    retl_err rc = p->r->src->commit_wait(p->r->sctx, eb);
    if (rc == RETL_E_OK)
        count(p->r, p->s, &p->t);
    return rc;
}

/* Loads the rows of one kind (writes, or deletes) of a chunk as one batch
 * and puts each row's result at its chunk position. */
static retl_err load_kind(struct run *r, struct loadstate *ls, const struct eng_row *rows,
                          const size_t *map, size_t n, enum eng_op op, bool new_keys,
                          struct retl_errbuf *eb)
{
    if (n == 0)
        return RETL_E_OK;
    struct eng_batch b = {.cols = r->oc.cols,
                          .ncols = r->oc.n,
                          .rows = rows,
                          .nrows = n,
                          .new_keys = new_keys,
                          .run = r->c->run,
                          .op = op};
    memset(ls->sub, 0, n * sizeof *ls->sub);
    retl_err rc = r->dst->load(r->dctx, &b, ls->sub, eb);
    /* Also when the load failed: rows it acknowledged may still be saved
     * (record_acknowledged). */
    for (size_t k = 0; k < n; k++) {
        ls->res[map[k]] = ls->sub[k]; /* ownership moves */
        if (!ls->res[map[k]].ok && ls->res[map[k]].cls == ENG_FAIL_BY_CODE)
            ls->res[map[k]].cls = eng_fail_classify(ls->res[map[k]].code);
    }
    return rc;
}

/* A destination's texts go into the errors table by COPY, which refuses
 * invalid UTF-8 (SQLSTATE 22021) and would block every later run. */
static void scrub_results(struct eng_row_result *res, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *t[] = {res[i].code, res[i].message, res[i].fields};
        for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
            if (t[k])
                retl_utf8_scrub(t[k]);
    }
}

/* A batch the destination failed may still hold acknowledged rows (a
 * Collections round where one request failed after others were written):
 * when every row has an outcome, they are saved before the run fails, so a
 * created record is never created again by the next run. */
static void record_acknowledged(struct run *r, struct retl_summary *s,
                                const struct eng_chunk *ch, struct eng_row_result *res)
{
    struct tally t = {0};
    bool clear = r->c->job->deletes == RETL_DELETES_CLEAR;
    for (size_t i = 0; i < ch->nrows; i++) {
        const char *o = ch->cells[i * (ch->ncols + 1)];
        if (!res[i].ok && !res[i].code)
            return; /* not every row has an outcome: the batch is sent again */
        if (!res[i].ok)
            t.bad++;
        else if (o && o[0] == 'D')
            *(clear ? &t.clr : &t.del) += 1;
        else if (res[i].created)
            t.ins++;
        else
            t.upd++;
    }
    if (t.ins + t.upd + t.del + t.clr == 0)
        return;
    scrub_results(res, ch->nrows);
    struct retl_errbuf ceb = {{0}};
    retl_err rc = r->src->commit(r->sctx, &r->st, r->c->run, op_name(r->c->job->mode), ch,
                                 res, &ceb);
    if (!rc && r->src->commit_wait)
        rc = r->src->commit_wait(r->sctx, &ceb);
    if (rc) {
        RETL_LOG_ERROR("cannot save the acknowledged rows of a failed batch",
                       RF_I("rows", t.ins + t.upd),
                       RF_S("message", retl_errbuf_msg(&ceb, rc)));
        return;
    }
    count(r, s, &t);
    RETL_LOG_WARN("batch failed; its acknowledged rows are saved",
                  RF_I("inserted", t.ins), RF_I("updated", t.upd), RF_I("failed", t.bad));
}

/* Sends the delta in batches, or with record_only (a reset) records every
 * row as synced without sending it. */
static retl_err load_delta(struct run *r, struct retl_summary *s, bool record_only,
                           struct retl_errbuf *eb)
{
    const struct retl_job *job = r->c->job;
    retl_err rc;
    struct loadstate ls = {0};
    struct pending pend = {.r = r, .s = s};
    size_t delta = (size_t)(s->changed);
    size_t bs = r->dst->plan ? r->dst->plan(r->dctx, delta) : 0;
    if (bs == 0)
        bs = job->batch_size > 0 ? (size_t)job->batch_size : 200;
    enum eng_op del_op =
        job->deletes == RETL_DELETES_CLEAR ? ENG_OP_CLEAR : ENG_OP_DELETE;
    atomic_store(&r->prog.phase, "loading");
    if ((rc = r->src->delta_open(r->sctx, &r->st, eb)))
        return rc;
    size_t nout = r->oc.n ? r->oc.n : 1;
    ls.rows = calloc(bs, sizeof *ls.rows);
    ls.vals = calloc(bs * nout, sizeof *ls.vals);
    ls.res = calloc(bs, sizeof *ls.res);
    ls.sub = calloc(bs, sizeof *ls.sub);
    ls.map = calloc(bs, sizeof *ls.map);
    if (!ls.rows || !ls.vals || !ls.res || !ls.sub || !ls.map) {
        rc = RETL_E_NOMEM;
        goto out;
    }
    for (;;) {
        struct eng_chunk ch = {0};
        if (eng_stop_requested) {
            rc = retl_errf(eb, RETL_E_CANCELLED,
                           "stopped by a signal; batches already loaded are "
                           "saved, the rest is sent by the next run");
            goto out;
        }
        if ((rc = r->src->delta_fetch(r->sctx, bs, &ch, eb)))
            goto out;
        if (ch.nrows == 0)
            break;
        if (ch.nrows > bs) {
            rc = retl_errf(eb, RETL_E_INTERNAL, "source: chunk larger than asked");
            goto out;
        }
        size_t stride = ch.ncols + 1, nw = 0, nd = 0;
        bool new_keys = true;
        /* Writes fill rows from the front, deletes from the back: each kind
         * is one batch (dest.h), results go back to chunk positions. */
        for (size_t i = 0; i < ch.nrows; i++) {
            const char *const *row = ch.cells + i * stride;
            bool del = row[0] && row[0][0] == 'D';
            size_t at = del ? bs - 1 - nd++ : nw++;
            for (size_t j = 0; j < r->oc.n; j++)
                ls.vals[at * nout + j] = row[1 + r->oc.vidx[j]];
            if (!del)
                new_keys &= row[0] && row[0][0] == 'I';
            ls.rows[at] = (struct eng_row){.key = row[1] ? row[1] : "",
                                           .vals = ls.vals + at * nout,
                                           .op = del ? del_op : op_of(job->mode),
                                           .dest_id = del && ch.ids ? ch.ids[i] : NULL};
        }
        /* The previous batch must be in the state before this one is loaded
         * (at most one batch sent twice) and before its state transaction
         * starts; prewrite then writes this one while the destination loads. */
        double ts = now_s();
        if ((rc = settle(&pend, eb)))
            goto out;
        double tp = now_s();
        if (r->src->prewrite && (rc = r->src->prewrite(r->sctx, &r->st, &ch, eb)))
            goto out;
        double tl = now_s();
        memset(ls.res, 0, ch.nrows * sizeof *ls.res);
        size_t k = 0;
        for (size_t i = 0; i < ch.nrows; i++) {
            const char *o = ch.cells[i * stride];
            if (!(o && o[0] == 'D'))
                ls.map[k++] = i;
        }
        if (record_only) {
            for (size_t i = 0; i < ch.nrows; i++)
                ls.res[i].ok = true;
            nd = 0;
        } else {
            rc = load_kind(r, &ls, ls.rows, ls.map, nw, op_of(job->mode), new_keys, eb);
        }
        if (!rc && nd) {
            /* Deletes sit at the back in reverse order: reverse them, so the
             * batch keeps the chunk's order. */
            for (size_t a = bs - nd, z = bs - 1; a < z; a++, z--) {
                struct eng_row t = ls.rows[a];
                ls.rows[a] = ls.rows[z];
                ls.rows[z] = t;
            }
            k = 0;
            for (size_t i = 0; i < ch.nrows; i++) {
                const char *o = ch.cells[i * stride];
                if (o && o[0] == 'D')
                    ls.map[k++] = i;
            }
            rc = load_kind(r, &ls, ls.rows + (bs - nd), ls.map, nd, del_op, false, eb);
        }
        double tc = now_s();
        if (rc) {
            /* Deletes the failure kept from being sent are tried next run;
             * the writes the destination acknowledged are still saved. */
            for (size_t i = 0; nd && i < ch.nrows; i++) {
                const char *o = ch.cells[i * stride];
                if (o && o[0] == 'D' && !ls.res[i].ok && !ls.res[i].code) {
                    ls.res[i].code = strdup("NOT_SENT");
                    ls.res[i].message =
                        strdup("not sent: another part of the batch failed");
                    ls.res[i].cls = ENG_FAIL_TRANSIENT;
                }
            }
            record_acknowledged(r, s, &ch, ls.res);
            eng_results_clear(ls.res, ch.nrows);
            goto out;
        }
        scrub_results(ls.res, ch.nrows);
        rc = r->src->commit(r->sctx, &r->st, r->c->run, op_name(job->mode), &ch, ls.res,
                            eb);
        struct tally t = {0};
        for (size_t i = 0; !record_only && i < ch.nrows; i++) {
            const char *o = ch.cells[i * stride];
            if (!ls.res[i].ok)
                t.bad++;
            else if (o && o[0] == 'D')
                *(del_op == ENG_OP_CLEAR ? &t.clr : &t.del) += 1;
            else if (ls.res[i].created)
                t.ins++;
            else
                t.upd++;
        }
        eng_results_clear(ls.res, ch.nrows);
        RETL_LOG_DEBUG("batch", RF_I("rows", ch.nrows), RF_I("deletes", nd),
                       RF_D("settleSeconds", tp - ts), RF_D("prewriteSeconds", tl - tp),
                       RF_D("loadSeconds", tc - tl), RF_D("commitSeconds", now_s() - tc));
        /* A batch the state did not take is not counted: the next run sends
         * it again (at most one batch twice). */
        if (rc)
            goto out;
        if (r->src->commit_wait)
            pend = (struct pending){.r = r, .s = s, .on = true, .t = t};
        else
            count(r, s, &t);
    }
    if ((rc = settle(&pend, eb)))
        goto out;
    atomic_store(&r->prog.phase, "finishing");
    rc = r->src->finish(r->sctx, &r->st, eb);
out:
    if (pend.on) {
        struct retl_errbuf ignored = {{0}};
        retl_err rc2 = settle(&pend, rc ? &ignored : eb);
        if (rc == RETL_E_OK)
            rc = rc2;
    }
    free(ls.rows);
    free(ls.vals);
    free(ls.res);
    free(ls.sub);
    free(ls.map);
    return rc;
}

/* The message of a completed run. */
static void run_message(const struct retl_job *job, struct retl_summary *s, bool rebased,
                        bool over)
{
    char skipped[160] = "", dels[160];
    if (s->skipped_permanent > 0)
        snprintf(skipped, sizeof skipped,
                 "; %lld unchanged row(s) that failed permanently not sent "
                 "(--retry-failed sends them)",
                 s->skipped_permanent);
    if (job->deletes == RETL_DELETES_IGNORE)
        snprintf(dels, sizeof dels,
                 "%lld deleted in the source (deletes are not propagated)", s->deleted);
    else
        snprintf(dels, sizeof dels, "%lld deleted and %lld cleared in the destination",
                 s->deleted, s->cleared);
    snprintf(s->message, sizeof s->message,
             "%s%lld of %lld changed rows synced (%lld inserted, %lld "
             "updated), %lld failed%s%s; %s",
             rebased ? "spec changed, new baseline: " : "",
             s->inserted + s->updated + s->deleted + s->cleared, s->changed, s->inserted,
             s->updated, s->failed, over ? " (error threshold exceeded)" : "", skipped,
             dels);
}

static void failing_rows(struct run *r, struct retl_summary *s)
{
    json_t *arr = NULL;
    long long total = 0;
    struct retl_errbuf eb = {{0}};
    if (r->src->errors(r->sctx, &r->st, 1, &arr, &total, &eb) == RETL_E_OK)
        s->failing_rows = total;
    long long perm = 0;
    if (r->src->failing_permanent &&
        r->src->failing_permanent(r->sctx, &r->st, &perm, &eb) == RETL_E_OK)
        s->failing_permanent = perm;
    json_decref(arr);
}

int eng_cmd_run(const struct eng_ctx *c, struct retl_summary *s)
{
    const struct retl_job *job = c->job;
    struct run r = {.c = c};
    struct retl_errbuf eb = {{0}};
    struct eng_delta_counts dc = {0};
    unsigned state = 0;
    double t0 = now_s();
    retl_err rc;

    retl_summary_init(s, c->run);
    RETL_LOG_INFO(
        "run started", RF_S("job", job->name), RF_S("namespace", job->namespace),
        RF_I("run", c->run), RF_S("mode", retl_mode_name(job->mode)),
        RF_S("source", job->source.type), RF_S("destination", job->destination.type),
        RF_S("object", job->destination.object));
    atomic_store(&r.prog.phase, "starting");
    eng_progress_start(&r.prog, c->progress_interval);
    rc = run_prepare(&r, 0, &dc, &state, &eb);
    bool rebased = state & ENG_STATE_REBASED, resetting = state & ENG_STATE_RESETTING;
    if (r.st.n.schema[0])
        snprintf(s->errors_table, sizeof s->errors_table, "%s.%s", r.st.n.schema,
                 r.st.n.errors);
    if (rc == RETL_E_OK) {
        bool prop = job->deletes != RETL_DELETES_IGNORE;
        s->extracted = dc.extracted;
        s->changed = dc.new_keys + dc.changed + (prop ? dc.deleted : 0);
        /* Propagated deletes count as they are saved; else those found. */
        s->deleted = prop ? 0 : dc.deleted;
        s->skipped_permanent = dc.skipped_permanent;
        if (prop && !resetting && delete_guard_trips(job, &dc)) {
            rc = retl_errf(&eb, RETL_E_CONFIG,
                           "delete guard: %lld of %lld synced keys (%.1f%%) would be "
                           "%s, more than spec.deletes.maxPercent %g; nothing was "
                           "written. If the query is right, raise maxPercent (100 "
                           "turns the guard off) or run once with deletes.mode Ignore",
                           dc.deleted, dc.synced,
                           dc.synced ? 100.0 * (double)dc.deleted / (double)dc.synced
                                     : 100.0,
                           job->deletes == RETL_DELETES_CLEAR ? "cleared" : "deleted",
                           job->deletes_max_percent);
            snprintf(s->reason, sizeof s->reason, "%s", RETL_REASON_DELETE_GUARD);
        } else {
            rc = load_delta(&r, s, resetting, &eb);
        }
    }
    eng_progress_stop();
    if (r.sctx && rc != RETL_E_UNAVAILABLE && rc != RETL_E_CONFLICT)
        failing_rows(&r, s);
    s->duration = now_s() - t0;
    if (rc) {
        s->result = RETL_RESULT_FAILED;
        retl_redact_text(retl_errbuf_msg(&eb, rc), s->message, sizeof s->message);
        RETL_LOG_ERROR("run failed", RF_S("error", retl_err_name(rc)),
                       RF_S("message", s->message));
    } else {
        bool over = retl_threshold_exceeded(s->failed, s->changed, job->max_failed_rows,
                                            job->max_failed_percent);
        s->result = over ? RETL_RESULT_THRESHOLD : RETL_RESULT_SUCCEEDED;
        if (resetting)
            snprintf(s->message, sizeof s->message,
                     "reset: %lld changed rows recorded as synced, nothing sent; %lld "
                     "deleted in the source",
                     s->changed, s->deleted);
        else
            run_message(job, s, rebased, over);
    }
    s->dest_info = r.info;
    if (r.dctx && r.dst->summary) {
        s->extra = json_object();
        r.dst->summary(r.dctx, s->extra);
    }
    RETL_LOG_INFO("run finished", RF_S("result", retl_result_name(s->result)),
                  RF_I("extracted", s->extracted), RF_I("changed", s->changed),
                  RF_I("inserted", s->inserted), RF_I("updated", s->updated),
                  RF_I("deleted", s->deleted), RF_I("failed", s->failed),
                  RF_D("durationSeconds", s->duration));
    /* The summary borrows info and extra: keep them until the caller is done
     * by handing ownership over through the summary fields. */
    r.info = NULL;
    run_close(&r);
    return retl_summary_exit(s);
}

int eng_cmd_plan(const struct eng_ctx *c, FILE *out)
{
    const struct retl_job *job = c->job;
    struct run r = {.c = c};
    struct retl_errbuf eb = {{0}};
    struct eng_delta_counts dc = {0};
    unsigned state = 0;
    retl_err rc = run_prepare(&r, ENG_SRC_DRY, &dc, &state, &eb);
    bool rebased = state & ENG_STATE_REBASED, resetting = state & ENG_STATE_RESETTING;
    int code = RETL_EXIT_OK;
    if (rc) {
        fprintf(stderr, "plan failed: %s\n", retl_errbuf_msg(&eb, rc));
        code = RETL_EXIT_FAILED;
    } else {
        long long ins = 0, upd = 0;
        if (job->mode == RETL_MODE_INSERT)
            ins = dc.new_keys;
        else if (job->mode == RETL_MODE_UPDATE)
            upd = dc.new_keys + dc.changed;
        else
            ins = dc.new_keys, upd = dc.changed;
        if (resetting) /* a pending reset records the delta and sends nothing */
            ins = upd = 0;
        json_t *o = json_pack(
            "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:b, s:s, s:s}", "mode",
            retl_mode_name(job->mode), "extracted", (json_int_t)dc.extracted, "changed",
            (json_int_t)(dc.new_keys + dc.changed), "insert", (json_int_t)ins, "update",
            (json_int_t)upd, "deleted", (json_int_t)dc.deleted, "skippedPermanent",
            (json_int_t)dc.skipped_permanent, "newBaseline", rebased, "reset", resetting,
            "strategy", eng_diff_name(c->diff), "note",
            job->deletes != RETL_DELETES_IGNORE
                ? "dry run: nothing was loaded"
                : "dry run: nothing was loaded; deletes are counted, not propagated");
        if (o && job->deletes != RETL_DELETES_IGNORE) {
            /* "deleted" is what a run would delete or clear. */
            json_object_set_new(o, "deletes",
                                json_string(retl_deletes_name(job->deletes)));
            json_object_set_new(o, "synced", json_integer((json_int_t)dc.synced));
            json_object_set_new(o, "maxPercent", json_real(job->deletes_max_percent));
            json_object_set_new(o, "guardTrips",
                                json_boolean(!resetting && delete_guard_trips(job, &dc)));
        }
        char *txt = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        fprintf(out, "%s\n", txt ? txt : "{}");
        free(txt);
        json_decref(o);
    }
    run_close(&r);
    return code;
}

/* A cell's text: strings as they are, integers in decimal. */
static const char *cell_text(const json_t *v, char *buf, size_t n)
{
    if (json_is_integer(v)) {
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return json_is_string(v) ? json_string_value(v) : "";
}

/* Width on a terminal: UTF-8 characters, not bytes. */
static int text_width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* One cell, whole (as kubectl prints them), padded to width unless last;
 * newlines and tabs shown as spaces so a row stays one line. */
static void put_cell(FILE *out, const char *s, int width, bool last)
{
    for (const char *p = s; *p; p++)
        fputc(*p == '\n' || *p == '\t' || *p == '\r' ? ' ' : *p, out);
    if (!last)
        fprintf(out, "%*s", width - text_width(s) + 2, "");
}

/* The failing rows as a table whose columns are as wide as their widest
 * value: codes, keys and timestamps are never cut. */
static void errors_table(FILE *out, const json_t *arr)
{
    static const char *const heads[] = {"KEY",    "ATTEMPTS",     "CODE",   "CLASS",
                                        "FIELDS", "LAST FAILURE", "MESSAGE"};
    static const char *const keys[] = {"key",    "attempts",    "code",   "class",
                                       "fields", "lastFailure", "message"};
    enum { NC = sizeof heads / sizeof heads[0] };
    int width[NC];
    char buf[32];
    for (size_t k = 0; k < NC; k++)
        width[k] = text_width(heads[k]);
    size_t i;
    json_t *e;
    json_array_foreach (arr, i, e) {
        for (size_t k = 0; k < NC; k++) {
            int w = text_width(cell_text(json_object_get(e, keys[k]), buf, sizeof buf));
            if (w > width[k])
                width[k] = w;
        }
    }
    for (size_t k = 0; k < NC; k++)
        put_cell(out, heads[k], width[k], k + 1 == NC);
    fputc('\n', out);
    json_array_foreach (arr, i, e) {
        for (size_t k = 0; k < NC; k++)
            put_cell(out, cell_text(json_object_get(e, keys[k]), buf, sizeof buf),
                     width[k], k + 1 == NC);
        fputc('\n', out);
    }
}

int eng_cmd_errors(const struct eng_ctx *c, bool json, FILE *out)
{
    struct run r = {.c = c};
    struct retl_errbuf eb = {{0}};
    json_t *arr = NULL;
    long long total = 0;
    retl_err rc = backends(&r, false, &eb);
    if (!rc)
        rc = eng_state_from_job(c->job, &r.st, &eb);
    if (!rc)
        rc = r.src->open(c->job, c->src_sec, ENG_SRC_DRY, &r.sctx, &eb);
    if (!rc)
        rc = r.src->errors(r.sctx, &r.st, 10000, &arr, &total, &eb);
    if (rc) {
        fprintf(stderr, "errors: %s\n", retl_errbuf_msg(&eb, rc));
        run_close(&r);
        return RETL_EXIT_FAILED;
    }
    if (json) {
        char *txt = json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fprintf(out, "%s\n", txt ? txt : "[]");
        free(txt);
    } else {
        long long perm = -1;
        if (r.src->failing_permanent &&
            r.src->failing_permanent(r.sctx, &r.st, &perm, &eb) != RETL_E_OK)
            perm = -1;
        fprintf(out, "%lld failing row(s) in %s.%s", total, r.st.n.schema, r.st.n.errors);
        if (perm > 0)
            fprintf(out,
                    " (%lld permanent: resent when the row changes or with "
                    "--retry-failed)",
                    perm);
        fputc('\n', out);
        if (total > 0)
            errors_table(out, arr);
    }
    json_decref(arr);
    run_close(&r);
    return RETL_EXIT_OK;
}

int eng_cmd_describe(const struct eng_ctx *c, FILE *out)
{
    const struct retl_job *job = c->job;
    struct run r = {.c = c};
    struct retl_errbuf eb = {{0}};
    retl_err rc = backends(&r, true, &eb);
    if (!rc)
        rc = eng_state_from_job(job, &r.st, &eb);
    for (size_t i = 0; !rc && i < r.st.ncols; i++)
        r.st.cols[i].type = ENG_T_TEXT;
    if (!rc)
        rc = outcols_build(job, &r.st, &r.oc, &eb);
    if (!rc && !c->dst_sec)
        rc = retl_errf(&eb, RETL_E_CONFIG, "no destination secret");
    if (!rc)
        rc = r.dst->open(job, c->dst_sec, &r.dctx, &eb);
    r.info = json_object();
    if (!rc)
        rc = r.dst->prepare(r.dctx, r.oc.cols, r.oc.n, r.info, &eb);
    json_object_set_new(r.info, "type", json_string(r.dst ? r.dst->type : ""));
    json_object_set_new(r.info, "valid", json_boolean(rc == RETL_E_OK));
    if (rc)
        json_object_set_new(r.info, "problem", json_string(retl_errbuf_msg(&eb, rc)));
    char *txt = json_dumps(r.info, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fprintf(out, "%s\n", txt ? txt : "{}");
    free(txt);
    run_close(&r);
    return rc ? RETL_EXIT_FAILED : RETL_EXIT_OK;
}

int eng_cmd_cleanup(const struct eng_ctx *c, FILE *out)
{
    struct run r = {.c = c};
    struct retl_errbuf eb = {{0}};
    retl_err rc = backends(&r, false, &eb);
    if (!rc)
        rc = eng_state_from_job(c->job, &r.st, &eb);
    if (!rc)
        rc = r.src->open(c->job, c->src_sec, 0, &r.sctx, &eb);
    if (!rc)
        rc = r.src->lock(r.sctx, &r.st, &eb);
    if (!rc)
        rc = r.src->drop_state(r.sctx, &r.st, &eb);
    if (rc) {
        fprintf(stderr, "cleanup failed: %s\n", retl_errbuf_msg(&eb, rc));
        RETL_LOG_ERROR("cleanup failed", RF_S("message", retl_errbuf_msg(&eb, rc)));
    } else {
        RETL_LOG_INFO("state dropped", RF_S("schema", r.st.n.schema),
                      RF_S("prefix", r.st.n.prefix));
        fprintf(out, "{\"cleanup\":\"done\",\"schema\":\"%s\",\"prefix\":\"%s\"}\n",
                r.st.n.schema, r.st.n.prefix);
    }
    run_close(&r);
    return rc ? RETL_EXIT_FAILED : RETL_EXIT_OK;
}
