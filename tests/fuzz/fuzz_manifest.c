/* libFuzzer target: manifest parsing and planning (sources never exist under the fuzz base
 * directory, so planning stops at its checks), plus the asset path grammar on the raw input:
 * a path that parses must format back to a path that parses to the same asset. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "airfactory/asset_path.h"
#include "airfactory/manifest.h"
#include "core/memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct error err = {0};
    struct manifest *m = NULL;
    if (manifest_parse((const char *)data, size, "fuzz.yaml", "/nonexistent/fuzz", &m, &err) == 0) {
        struct plan *plan = NULL;
        if (manifest_plan(m, &plan, &err) == 0)
            plan_free(plan);
        else if (err.code != ERROR_INPUT)
            abort();
        manifest_free(m);
    } else if (err.code != ERROR_INPUT) {
        abort();
    }
    if (size < ASSET_PATH_MAX && !memchr(data, 0, size)) {
        char *path = xstrndup((const char *)data, size);
        struct asset_path a, b;
        if (asset_path_parse(path, &a, &err) == 0) {
            char canonical[ASSET_PATH_MAX];
            asset_path_format(&a, canonical);
            if (asset_path_parse(canonical, &b, &err) < 0 || memcmp(&a, &b, sizeof a))
                abort();
        }
        free(path);
    }
    return 0;
}
