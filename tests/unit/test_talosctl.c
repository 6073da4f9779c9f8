/* test_talosctl — which files of a talosctl-all image become /talosctl/ downloads, and their
 * Content-Type. */
#include "imager/talosctl.h"
#include "test.h"

static void file_names(void)
{
    CHECK(talosctl_file_name_valid("talosctl-linux-amd64"));
    CHECK(talosctl_file_name_valid("talosctl-linux-armv7"));
    CHECK(talosctl_file_name_valid("talosctl-windows-arm64.exe"));
    CHECK(talosctl_file_name_valid("talosctl-darwin-arm64"));
    CHECK(!talosctl_file_name_valid("talosctl"));
    CHECK(!talosctl_file_name_valid("talosctl-linux"));
    CHECK(!talosctl_file_name_valid("talosctl-linux-"));
    CHECK(!talosctl_file_name_valid("talosctl--amd64"));
    CHECK(!talosctl_file_name_valid("talosctl-linux-amd64-extra"));
    CHECK(!talosctl_file_name_valid("talosctl-Linux-amd64"));
    CHECK(!talosctl_file_name_valid("talosctl-linux-amd64.exe.exe"));
    CHECK(!talosctl_file_name_valid("talosctl-windows-.exe"));
    CHECK(!talosctl_file_name_valid("kubectl-linux-amd64"));
    CHECK(!talosctl_file_name_valid("talosctl-linux-amd64.sha256"));
}

static void media_types(void)
{
    CHECK_STR(talosctl_media_type("talosctl-windows-amd64.exe"), "application/x-msdos-program");
    CHECK_STR(talosctl_media_type("talosctl-linux-amd64"), "application/octet-stream");
}

int main(void)
{
    RUN(file_names);
    RUN(media_types);
    return TEST_MAIN_END();
}
