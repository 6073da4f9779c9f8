/* manifest_shard — which models shard I of N builds (airfactory plan/build --shard I/N).
 *
 * Owns: the groups that must be built in one process and the balance of the shards by expected
 * cost. A group is every model of one schematic x version x arch (they share one initramfs, the
 * flattened extensions and the extracted imager: building them in two shards would build those
 * twice); when a schematic x version has an installer output, its arches are one group (the
 * installer image is one multi-arch index per schematic x version, written once). Groups are
 * dealt out deterministically: the costliest first (ties: plan order), each to the shard with the
 * least cost so far (ties: the lowest shard number). Shards count from 0. Costs are relative units from the output
 * kind and, for disk images, the profile's disk size (plan_model_cost). The shard keeps the
 * plan's order. The shard spec itself ("I/N") is bundle_merge.h's. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "airfactory/manifest.h"
#include "core/memory.h"
#include "talos/profile.h"

uint64_t plan_model_cost(const struct plan *plan, const struct plan_model *model)
{
    const struct asset_path *a = &model->asset;
    switch (a->kind) {
    case ASSET_KERNEL:
    case ASSET_CMDLINE: return 1;
    case ASSET_INITRAMFS: return 3;
    case ASSET_UKI: return 6;
    case ASSET_ISO: return 10;
    case ASSET_INSTALLER: return 12;
    case ASSET_IMAGE: {
        uint64_t mib = 8192;
        const char *options = NULL;
        if (plan->profiles)
            profile_disk_defaults(plan->profiles, a->platform, &mib, &options);
        return 10 + mib / 512 + (a->compression[0] ? 4 : 0);
    }
    }
    return 1;
}

/* the cost of the group's shared work: one initramfs (with the extensions flattened) */
#define GROUP_SHARED_COST 8

static bool has_installer(const struct plan *plan, const struct plan_model *m)
{
    for (size_t i = 0; i < plan->model_count; i++) {
        const struct plan_model *x = &plan->models[i];
        if (x->schematic == m->schematic && !strcmp(x->version, m->version) && x->asset.kind == ASSET_INSTALLER)
            return true;
    }
    return false;
}

static bool same_group(const struct plan *plan, const struct plan_model *a, const struct plan_model *b)
{
    if (a->schematic != b->schematic || strcmp(a->version, b->version) != 0)
        return false;
    return !strcmp(a->arch, b->arch) || has_installer(plan, a);
}

struct group {
    size_t first; /* plan index of its first model */
    uint64_t cost;
    unsigned shard;
};

static int by_cost(const void *x, const void *y)
{
    const struct group *a = x, *b = y;
    if (a->cost != b->cost)
        return a->cost > b->cost ? -1 : 1;
    return a->first < b->first ? -1 : a->first > b->first;
}

int plan_shard_assign(const struct plan *plan, unsigned count, unsigned *shard_of_model, struct error *err)
{
    if (count < 1)
        return error_set(err, ERROR_INPUT, "shards: at least one");
    size_t n = plan->model_count;
    size_t *group_of = xcalloc(n ? n : 1, sizeof *group_of);
    struct group *groups = xcalloc(n ? n : 1, sizeof *groups);
    size_t group_count = 0;
    for (size_t i = 0; i < n; i++) {
        size_t g = group_count;
        for (size_t k = 0; k < group_count && g == group_count; k++)
            if (same_group(plan, &plan->models[groups[k].first], &plan->models[i]))
                g = k;
        if (g == group_count) {
            groups[group_count++] = (struct group){.first = i};
        }
        group_of[i] = g;
        const struct plan_model *m = &plan->models[i];
        groups[g].cost += plan_model_cost(plan, m);
    }
    for (size_t g = 0; g < group_count; g++) {
        bool shared = false;
        for (size_t i = 0; i < n; i++)
            if (group_of[i] == g && plan->models[i].asset.kind != ASSET_KERNEL &&
                plan->models[i].asset.kind != ASSET_CMDLINE)
                shared = true;
        if (shared)
            groups[g].cost += GROUP_SHARED_COST;
    }
    /* sort a copy (indices into groups stay valid through first) */
    struct group *order = xcalloc(group_count ? group_count : 1, sizeof *order);
    memcpy(order, groups, group_count * sizeof *order);
    qsort(order, group_count, sizeof *order, by_cost);
    uint64_t *load = xcalloc(count, sizeof *load);
    for (size_t k = 0; k < group_count; k++) {
        unsigned best = 0;
        for (unsigned s = 1; s < count; s++)
            if (load[s] < load[best])
                best = s;
        load[best] += order[k].cost;
        groups[group_of[order[k].first]].shard = best;
    }
    for (size_t i = 0; i < n; i++)
        shard_of_model[i] = groups[group_of[i]].shard;
    free(load);
    free(order);
    free(groups);
    free(group_of);
    return 0;
}

int plan_select_shard(struct plan *plan, unsigned index, unsigned count, struct error *err)
{
    if (count < 1 || index >= count)
        return error_set(err, ERROR_INPUT, "shard %u/%u: expected 0 <= I < N", index, count);
    unsigned *shard = xcalloc(plan->model_count ? plan->model_count : 1, sizeof *shard);
    if (plan_shard_assign(plan, count, shard, err) != 0) {
        free(shard);
        return -1;
    }
    size_t kept = 0;
    for (size_t i = 0; i < plan->model_count; i++)
        if (shard[i] == index)
            plan->models[kept++] = plan->models[i];
    plan->model_count = kept;
    free(shard);
    return 0;
}
