/* airfactory-serve — command line of the bundle server; everything else is in src/serve/. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airfactory/serve.h"
#include "airfactory_build.h"

static const char usage_text[] =
    "usage: airfactory-serve BUNDLE --listen ADDR:PORT (--key PUB.pem | --insecure-no-verify) [options]\n"
    "\n"
    "Serves a bundle built by `airfactory build` as Image Factory's HTTP API, asset downloads, PXE\n"
    "scripts and a read-only OCI registry (/v2/).\n"
    "\n"
    "  --listen ADDR:PORT        address to listen on (127.0.0.1:8080, 0.0.0.0:80, [::]:443, :8080)\n"
    "  --key PUB.pem             public key; index.db.sig must verify or the server refuses to start\n"
    "  --insecure-no-verify      serve without checking the bundle signature (testing only)\n"
    "  --allow-downgrade         switch live to a bundle older than the one served (generation, built_at)\n"
    "  --tls-cert FILE           PEM certificate chain: serve HTTPS\n"
    "  --tls-key FILE            PEM private key of --tls-cert\n"
    "  --workers N               worker processes sharing the one listening socket; default 1\n"
    "  --user NAME               when started as root: switch to this user after binding the port\n"
    "  --log-format FMT          access log on stderr: text (default), json or none\n"
    "  --external-url URL        base URL for links the server writes (PXE scripts) instead of Host\n"
    "  --requests-dir DIR        record requests for what the bundle lacks in DIR/requests.jsonl\n"
    "                            (deduplicated, at most 1 MiB; DIR must be outside the bundle)\n"
    "  --header-timeout SEC      a request head and body must arrive within SEC; default 10\n"
    "  --idle-timeout SEC        close keep-alive connections idle for SEC; default 75\n"
    "  --write-timeout SEC       close a connection whose client reads nothing for SEC; default 60\n"
    "  --shutdown-timeout SEC    on SIGTERM/SIGINT, in-flight responses get SEC; default 10\n"
    "  (a new bundle at BUNDLE, swapped in by build or unpack, is verified and served live: checked\n"
    "  four times a second, at once on SIGHUP; downloads already running finish from the old files)\n"
    "  --max-connections N       per worker; default 100000 (also bounded by `ulimit -n`)\n"
    "  --max-conns-per-client N  per worker and client address (IPv6: per /64); default 256,\n"
    "                            0 = no limit (e.g. behind a reverse proxy, all clients are one)\n"
    "  --version, --help\n";

static int parse_seconds(const char *flag, const char *text, int *out_ms)
{
    char *end = NULL;
    double v = strtod(text, &end);
    if (!end || *end || v <= 0 || v > 86400) {
        fprintf(stderr, "airfactory-serve: %s %s: expected seconds, e.g. 10 or 0.5\n", flag, text);
        return -1;
    }
    *out_ms = (int)(v * 1000.0 + 0.5);
    if (*out_ms < 1)
        *out_ms = 1;
    return 0;
}

static int parse_int(const char *flag, const char *text, long min, long max, int *out)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (!end || *end || v < min || v > max) {
        fprintf(stderr, "airfactory-serve: %s %s: expected an integer in %ld..%ld\n", flag, text, min, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    struct serve_config config;
    serve_config_defaults(&config);
    config.listen = NULL;
    enum {
        OPT_LISTEN = 256,
        OPT_KEY,
        OPT_INSECURE,
        OPT_TLS_CERT,
        OPT_TLS_KEY,
        OPT_WORKERS,
        OPT_USER,
        OPT_LOG_FORMAT,
        OPT_EXTERNAL_URL,
        OPT_HEADER_TIMEOUT,
        OPT_IDLE_TIMEOUT,
        OPT_WRITE_TIMEOUT,
        OPT_SHUTDOWN_TIMEOUT,
        OPT_MAX_CONNECTIONS,
        OPT_MAX_CONNS_PER_CLIENT,
        OPT_REQUESTS_DIR,
        OPT_ALLOW_DOWNGRADE,
        OPT_VERSION,
        OPT_HELP
    };
    static const struct option options[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"key", required_argument, NULL, OPT_KEY},
        {"insecure-no-verify", no_argument, NULL, OPT_INSECURE},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"user", required_argument, NULL, OPT_USER},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"external-url", required_argument, NULL, OPT_EXTERNAL_URL},
        {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
        {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
        {"write-timeout", required_argument, NULL, OPT_WRITE_TIMEOUT},
        {"shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT},
        {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
        {"max-conns-per-client", required_argument, NULL, OPT_MAX_CONNS_PER_CLIENT},
        {"requests-dir", required_argument, NULL, OPT_REQUESTS_DIR},
        {"allow-downgrade", no_argument, NULL, OPT_ALLOW_DOWNGRADE},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        int bad = 0;
        switch (opt) {
        case OPT_LISTEN: config.listen = optarg; break;
        case OPT_KEY: config.key_path = optarg; break;
        case OPT_INSECURE: config.insecure_no_verify = true; break;
        case OPT_TLS_CERT: config.tls_cert = optarg; break;
        case OPT_TLS_KEY: config.tls_key = optarg; break;
        case OPT_WORKERS: bad = parse_int("--workers", optarg, 1, 256, &config.workers); break;
        case OPT_USER: config.user = optarg; break;
        case OPT_LOG_FORMAT:
            if (strcmp(optarg, "text") == 0)
                config.log_format = SERVE_LOG_TEXT;
            else if (strcmp(optarg, "json") == 0)
                config.log_format = SERVE_LOG_JSON;
            else if (strcmp(optarg, "none") == 0)
                config.log_format = SERVE_LOG_NONE;
            else {
                fprintf(stderr, "airfactory-serve: --log-format %s: expected text, json or none\n", optarg);
                bad = -1;
            }
            break;
        case OPT_EXTERNAL_URL:
            if (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0) {
                fprintf(stderr, "airfactory-serve: --external-url %s: expected http://HOST[:PORT] or https://…\n",
                        optarg);
                bad = -1;
            }
            config.external_url = optarg;
            break;
        case OPT_HEADER_TIMEOUT: bad = parse_seconds("--header-timeout", optarg, &config.header_timeout_ms); break;
        case OPT_IDLE_TIMEOUT: bad = parse_seconds("--idle-timeout", optarg, &config.idle_timeout_ms); break;
        case OPT_WRITE_TIMEOUT: bad = parse_seconds("--write-timeout", optarg, &config.write_timeout_ms); break;
        case OPT_SHUTDOWN_TIMEOUT:
            bad = parse_seconds("--shutdown-timeout", optarg, &config.shutdown_timeout_ms);
            break;
        case OPT_REQUESTS_DIR: config.requests_dir = optarg; break;
        case OPT_MAX_CONNECTIONS:
            bad = parse_int("--max-connections", optarg, 1, 10000000, &config.max_connections);
            break;
        case OPT_MAX_CONNS_PER_CLIENT:
            bad = parse_int("--max-conns-per-client", optarg, 0, 10000000, &config.max_conns_per_client);
            break;
        case OPT_ALLOW_DOWNGRADE: config.allow_downgrade = true; break;
        case OPT_VERSION: puts(AIRFACTORY_VERSION_LINE("airfactory-serve")); return 0;
        case 'h':
        case OPT_HELP: fputs(usage_text, stdout); return 0;
        default: fputs(usage_text, stderr); return 2;
        }
        if (bad)
            return 2;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "airfactory-serve: expected exactly one BUNDLE directory\n\n%s", usage_text);
        return 2;
    }
    config.bundle_dir = argv[optind];
    if (!config.listen) {
        fprintf(stderr, "airfactory-serve: --listen ADDR:PORT is required (e.g. --listen 0.0.0.0:8080)\n");
        return 2;
    }
    if (config.key_path && config.insecure_no_verify) {
        fprintf(stderr, "airfactory-serve: --key and --insecure-no-verify exclude each other\n");
        return 2;
    }
    struct error err = {0};
    if (serve_run(&config, &err) != 0) {
        fprintf(stderr, "airfactory-serve: %s\n", err.message);
        return err.code == ERROR_INPUT ? 2 : 1;
    }
    return 0;
}
