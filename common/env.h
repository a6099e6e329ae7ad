/* Numeric tunables from the environment (RETL_* settings of the engine). */
#ifndef RETL_ENV_H
#define RETL_ENV_H

/* The integer in variable name, or def when it is unset or empty; a value
 * that is not an integer in [lo, hi] is ignored with a warning naming it. */
long long retl_env_num(const char *name, long long def, long long lo, long long hi);

#endif
