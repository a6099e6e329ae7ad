/* The ReverseEtlJob resource (retl.io/v1alpha1): parser and validator shared by
 * the controller and the engine. DESIGN.md section 2 is the contract. */
#ifndef RETL_SPEC_H
#define RETL_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define RETL_API_VERSION "retl.io/v1alpha1"
#define RETL_KIND "ReverseEtlJob"
/* Longest job name: run pod names are "<job>-<unix minutes>" (max 63). */
#define RETL_MAX_NAME_LEN 52
/* Most jobs one job may run after (spec.after). */
#define RETL_MAX_AFTER 32

enum retl_mode { RETL_MODE_INSERT, RETL_MODE_UPSERT, RETL_MODE_UPDATE };
enum retl_concurrency { RETL_CONC_FORBID, RETL_CONC_REPLACE };
enum retl_cleanup { RETL_CLEANUP_RETAIN, RETL_CLEANUP_DELETE };
enum retl_sf_api { RETL_API_AUTO, RETL_API_REST, RETL_API_BULK };
/* spec.deletes.mode: what happens to a destination record whose key left the
 * query (only keys the job itself synced: its snapshot). */
enum retl_deletes { RETL_DELETES_IGNORE, RETL_DELETES_DELETE, RETL_DELETES_CLEAR };
/* spec.mappings[].nulls: whether a NULL overwrites the destination. */
enum retl_nulls { RETL_NULLS_WRITE, RETL_NULLS_SKIP };

struct retl_mapping {
    char *source;      /* owned */
    char *destination; /* owned */
    enum retl_nulls nulls;
    /* spec.mappings[].lookup: the parent record by one of its unique fields.
     * Salesforce: object is the sObject the reference field points to, field
     * an external id (or idLookup) field of it; postgres: object is
     * "schema.table", field a unique column. Both owned; NULL = no lookup. */
    char *lookup_object;
    char *lookup_field;
};

struct retl_job {
    /* metadata */
    char *name;      /* owned */
    char *namespace; /* owned; "default" when absent */
    char *uid;       /* owned; may be NULL */
    long long generation;

    struct {
        char *type;        /* postgres | sqlserver | snowflake | odbc */
        char *secret_name; /* spec.source.secretRef.name */
        char *query;       /* exactly one of query / table */
        char *table;
        char *state_schema; /* default "retl" */
    } source;
    struct {
        char *type; /* salesforce | postgres | hubspot | http */
        char *secret_name;
        char *object; /* NULL only for http */
        enum retl_sf_api api;
        double rate_limit_rps; /* rateLimit.requestsPerSecond; 0 = none */
    } destination;
    enum retl_mode mode;
    struct {
        char *source;
        char *destination; /* may be NULL in Insert mode */
    } key;
    struct retl_mapping *mappings; /* owned array */
    size_t n_mappings;

    char *schedule;  /* NULL = manual only */
    char *time_zone; /* default "UTC" */
    bool suspend;
    enum retl_concurrency concurrency;
    long long starting_deadline_seconds; /* -1 = none */
    int batch_size;                      /* default 200 */
    bool batch_size_set;       /* false: the destination may pick its own default */
    long long max_failed_rows; /* -1 = no limit */
    double max_failed_percent; /* -1 = no limit */
    int history_limit;         /* default 10 */
    enum retl_cleanup cleanup;
    enum retl_deletes deletes;  /* default Ignore */
    double deletes_max_percent; /* 0-100, default 20 (100 = no guard) */
    json_t *run_template;       /* owned reference or NULL */
    char **after;               /* owned: names of the jobs this one runs after */
    size_t n_after;
};

/* Up to RETL_MAX_PROBLEMS messages, each naming the field:
 * `spec.key.destination: must be "Id" in Update mode`. */
#define RETL_MAX_PROBLEMS 64
struct retl_problems {
    char *msgs[RETL_MAX_PROBLEMS]; /* owned */
    size_t n;
    size_t dropped; /* problems beyond the cap */
};

/* Adds a formatted problem. */
void retl_problem_add(struct retl_problems *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* All problems joined with "; " into a heap string. Ownership: caller frees. */
char *retl_problems_join(const struct retl_problems *p);
void retl_problems_free(struct retl_problems *p);

/* Parses and validates a whole ReverseEtlJob object (apiVersion, kind,
 * metadata, spec; status is ignored). Every problem found is added to probs
 * (unknown fields, wrong types, missing required fields, both/neither of
 * query/table, bad enums, key rules per mode, a cron expression without
 * exactly 5 fields, an unknown time zone, ...). Returns RETL_E_OK and a job in
 * *out only when there is no problem; otherwise RETL_E_SPEC. Ownership: the
 * caller frees *out with retl_job_free; probs with retl_problems_free. */
retl_err retl_job_parse(const json_t *obj, struct retl_job **out,
                        struct retl_problems *probs);
void retl_job_free(struct retl_job *job);

const char *retl_mode_name(enum retl_mode m);       /* "Insert" | "Upsert" | "Update" */
const char *retl_deletes_name(enum retl_deletes d); /* "Ignore" | "Delete" | "Clear" */

/* Whether a time zone name is known to this machine's tz database (IANA names
 * like "Europe/Berlin", and "UTC"). */
bool retl_tz_valid(const char *tz);

#endif
