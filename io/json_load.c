/* JSON files with integers beyond json_int_t (see io/json_load.h). */
#include "io/json_load.h"
#include <math.h>

/* Reals that are exact whole numbers back to integers, in place (jansson limits nesting to
 * JSON_PARSER_MAX_DEPTH, so the recursion is bounded). */
static void ints_back(json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
            if (json_is_real(x)) {
                double d = json_real_value(x);
                if (d == floor(d) && fabs(d) <= 9007199254740992.0)
                    json_object_set_new(v, k, json_integer((json_int_t)d));
            } else {
                ints_back(x);
            }
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *x = json_array_get(v, i);
            if (json_is_real(x)) {
                double d = json_real_value(x);
                if (d == floor(d) && fabs(d) <= 9007199254740992.0)
                    json_array_set_new(v, i, json_integer((json_int_t)d));
            } else {
                ints_back(x);
            }
        }
    }
}

json_t *io_json_load_file(const char *path, size_t flags, json_error_t *je)
{
    json_t *root = json_load_file(path, flags, je);
    /* numeric overflow: an integer beyond json_int_t (or a real beyond double, refused again) */
    if (root || json_error_code(je) != json_error_numeric_overflow)
        return root;
    root = json_load_file(path, flags | JSON_DECODE_INT_AS_REAL, je);
    if (root)
        ints_back(root);
    return root;
}
