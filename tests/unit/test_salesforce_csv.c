/* engine/dest/salesforce_csv.c: Bulk result CSVs read back (quoted and plain
 * cells, CRLF, newlines inside values, refusals with line numbers) and one
 * field written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dest/salesforce_csv.h"

static void test_csv_field(void **state)
{
    const char *in[] = {"plain", "a,b", "say \"hi\"", "two\nlines", "cr\r", ""};
    const char *want[] = {"plain",          "\"a,b\"",  "\"say \"\"hi\"\"\"",
                          "\"two\nlines\"", "\"cr\r\"", ""};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        struct retl_buf b;
        retl_buf_init(&b, 1024);
        assert_int_equal(sf_csv_field(&b, in[i], strlen(in[i])), RETL_E_OK);
        assert_int_equal(b.len, strlen(want[i]));
        assert_memory_equal(b.len ? b.data : "", want[i], b.len);
        retl_buf_free(&b);
    }
}

static void test_csv_parse(void **state)
{
    (void)state;
    const char *t = "\"sf__Id\",\"sf__Error\",Ext__c,Name\r\n"
                    "\"\",\"REQUIRED_FIELD_MISSING:x: [Name]:Name --\",\"W-1\",\"\"\r\n"
                    "\"0015e\",\"E:a,b\"\"c\",W-2,\"multi\nline\"\n";
    struct sf_csv c;
    struct retl_errbuf eb = {{0}};
    assert_int_equal(sf_csv_parse(t, strlen(t), &c, &eb), RETL_E_OK);
    assert_int_equal(c.ncols, 4);
    assert_int_equal(c.nrows, 2);
    assert_int_equal(sf_csv_col(&c, "ext__C"), 2);
    assert_int_equal(sf_csv_col(&c, "Id"), -1);
    assert_string_equal(sf_csv_cell(&c, 0, 1),
                        "REQUIRED_FIELD_MISSING:x: [Name]:Name --");
    assert_string_equal(sf_csv_cell(&c, 0, 3), "");
    assert_string_equal(sf_csv_cell(&c, 1, 1), "E:a,b\"c");
    assert_string_equal(sf_csv_cell(&c, 1, 3), "multi\nline");
    sf_csv_free(&c);
    const char *hdr_only = "\"sf__Id\",\"sf__Created\",Id\n";
    assert_int_equal(sf_csv_parse(hdr_only, strlen(hdr_only), &c, &eb), RETL_E_OK);
    assert_int_equal(c.nrows, 0);
    sf_csv_free(&c);
    const char *bad = "a,b\n1,2,3\n";
    assert_int_equal(sf_csv_parse(bad, strlen(bad), &c, &eb), RETL_E_PARSE);
    assert_non_null(strstr(eb.msg, "line 2"));
    const char *open = "a\n\"x\n";
    assert_int_equal(sf_csv_parse(open, strlen(open), &c, &eb), RETL_E_PARSE);
    /* Line numbers count the newlines inside quoted values. */
    const char *late = "a\n\"x\ny\"\n1,2\n";
    assert_int_equal(sf_csv_parse(late, strlen(late), &c, &eb), RETL_E_PARSE);
    assert_non_null(strstr(eb.msg, "line 4"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_field),
        cmocka_unit_test(test_csv_parse),
    };
    return cmocka_run_group_tests_name("salesforce_csv", tests, NULL, NULL);
}
