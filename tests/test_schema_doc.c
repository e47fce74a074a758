/* docs/hdf5-schema.md against the schema table (runner/schema.c): the dataset tables of the
 * document list exactly the table's datasets, each once, with the same "type [shape]"
 * (schema_describe writes the table in the document's notation). A dataset added to the
 * table without its row in the document, or a documented one the code no longer writes,
 * fails here. */
#include "runner/schema.h"
#include "tests/testutil.h"
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXROWS 256

typedef struct {
    int n;
    char path[MAXROWS][160], ts[MAXROWS][96];
} Rows;

static void add(Rows *r, const char *path, const char *ts)
{
    CU_ASSERT_FATAL(r->n < MAXROWS);
    snprintf(r->path[r->n], sizeof r->path[0], "%s", path);
    snprintf(r->ts[r->n], sizeof r->ts[0], "%s", ts);
    r->n++;
}

static void from_table(const char *path, const char *ts, void *arg)
{
    add(arg, path, ts);
}

static char *trim(char *s)
{
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n'))
        s[--n] = 0;
    return s;
}

/* Every table row whose first cell starts with a backquoted absolute path: that cell must be
 * exactly one path (`/a/b`), the second cell its type and shape. */
static void from_doc(Rows *r, const char *file)
{
    FILE *f = fopen(file, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "| `/", 4))
            continue;
        char *c1 = line + 1, *bar = strchr(c1, '|');
        CU_ASSERT_PTR_NOT_NULL_FATAL(bar);
        *bar = 0;
        char *c2 = bar + 1, *bar2 = strchr(c2, '|');
        CU_ASSERT_PTR_NOT_NULL_FATAL(bar2);
        *bar2 = 0;
        c1 = trim(c1);
        c2 = trim(c2);
        size_t n = strlen(c1);
        int one_path = n > 2 && c1[0] == '`' && c1[n - 1] == '`' && !memchr(c1 + 1, '`', n - 2);
        if (!one_path)
            fprintf(stderr, "\n  %s: a dataset row must name one dataset: %s\n", file, c1);
        CU_ASSERT(one_path);
        c1[n - 1] = 0;
        add(r, c1 + 1, c2);
    }
    fclose(f);
}

static int find(const Rows *r, const char *path)
{
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->path[i], path))
            return i;
    return -1;
}

static void test_doc_matches_table(void)
{
    const char *src = getenv("ATTRUN_SRC");
    char file[1024];
    snprintf(file, sizeof file, "%s/docs/hdf5-schema.md", src ? src : ".");
    static Rows table, doc;
    schema_describe(from_table, &table);
    from_doc(&doc, file);
    CU_ASSERT(table.n > 40);
    for (int i = 0; i < table.n; i++) {
        CU_ASSERT_EQUAL(find(&table, table.path[i]), i); /* declared once */
        int k = find(&doc, table.path[i]);
        if (k < 0)
            fprintf(stderr, "\n  %s is in the schema table (%s) but not in %s\n", table.path[i], table.ts[i], file);
        else if (strcmp(doc.ts[k], table.ts[i]))
            fprintf(stderr, "\n  %s: the table says \"%s\", %s \"%s\"\n", table.path[i], table.ts[i], file,
                    doc.ts[k]);
        CU_ASSERT(k >= 0 && !strcmp(doc.ts[k], table.ts[i]));
    }
    for (int i = 0; i < doc.n; i++) {
        CU_ASSERT_EQUAL(find(&doc, doc.path[i]), i); /* documented once */
        if (find(&table, doc.path[i]) < 0)
            fprintf(stderr, "\n  %s is documented in %s but not in the schema table\n", doc.path[i], file);
        CU_ASSERT(find(&table, doc.path[i]) >= 0);
    }
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("schema_doc", NULL, NULL);
    CU_add_test(s, "docs/hdf5-schema.md lists the schema table's datasets", test_doc_matches_table);
    return test_run_registry();
}
