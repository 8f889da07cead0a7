/*
 * make bench-scale: N distinct, verifiable SGX TCB infos for a bundle
 * (docs/bundle.md), signed as Intel signs them, by a look-alike TCB
 * Signing key (t/lib/ThimIntelPKI.pm) whose root the benchmark's nginx
 * pins with thim_intel_root_ca.
 *
 *     gen-tcb template.json tcb.key chain.pct outdir first count
 *
 * template.json is a signed TCB info (Intel's own layout:
 * {"tcbInfo":{...},"signature":"<128 hex>"}) whose "fmspc" is replaced
 * by B0 followed by the record's number in 10 hex digits, first to
 * first + count - 1; the tcbInfo member is signed again (ECDSA P-256 over
 * SHA-256, r||s in hex).  Each body is written to outdir/tcb/<fmspc>.json
 * and its bundle entry, one JSON object per line, to stdout; chain.pct
 * holds the TCB-Info-Issuer-Chain header value (percent-encoded PEM).
 * The openssl command line would take minutes for 100,000 signatures;
 * this takes seconds.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ecdsa.h>


static char *
slurp(const char *path, size_t *len)
{
    long   n;
    char  *buf;
    FILE  *f;

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "gen-tcb: %s: %s\n", path, strerror(errno));
        exit(1);
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc(n + 1);
    if (buf == NULL || fread(buf, 1, n, f) != (size_t) n) {
        fprintf(stderr, "gen-tcb: %s: cannot read\n", path);
        exit(1);
    }

    buf[n] = '\0';
    fclose(f);

    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        buf[--n] = '\0';
    }

    *len = (size_t) n;

    return buf;
}


static void
hex(const unsigned char *p, size_t n, char *out)
{
    static const char  digits[] = "0123456789abcdef";

    while (n--) {
        *out++ = digits[*p >> 4];
        *out++ = digits[*p++ & 0xf];
    }

    *out = '\0';
}


/* ECDSA over SHA-256 of [p, p + n): r||s, 32 bytes each, in hex */

static void
sign(EVP_PKEY *key, const char *p, size_t n, char *out)
{
    size_t              dlen;
    unsigned char       der[80], rs[64];
    const BIGNUM       *r, *s;
    EVP_MD_CTX         *md;
    ECDSA_SIG          *sig;
    const unsigned char *d;

    md = EVP_MD_CTX_new();
    dlen = sizeof(der);

    if (md == NULL
        || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1
        || EVP_DigestSign(md, der, &dlen, (const unsigned char *) p, n) != 1)
    {
        fprintf(stderr, "gen-tcb: signing failed\n");
        exit(1);
    }

    EVP_MD_CTX_free(md);

    d = der;
    sig = d2i_ECDSA_SIG(NULL, &d, (long) dlen);
    if (sig == NULL) {
        exit(1);
    }

    ECDSA_SIG_get0(sig, &r, &s);

    if (BN_bn2binpad(r, rs, 32) != 32 || BN_bn2binpad(s, rs + 32, 32) != 32) {
        exit(1);
    }

    ECDSA_SIG_free(sig);
    hex(rs, 64, out);
}


int
main(int argc, char **argv)
{
    char           *body, *chain, *fmspc, *member, *sigpos, *p;
    char            path[4096], name[16], sighex[129], sha[65];
    size_t          len, chain_len, done;
    FILE           *f, *kf;
    EVP_PKEY       *key;
    unsigned long   first, count, i;
    unsigned char   digest[32];

    if (argc != 7) {
        fprintf(stderr, "usage: gen-tcb template.json tcb.key chain.pct "
                        "outdir first count\n");
        return 2;
    }

    body = slurp(argv[1], &len);
    chain = slurp(argv[3], &chain_len);
    first = strtoul(argv[5], NULL, 10);
    count = strtoul(argv[6], NULL, 10);

    kf = fopen(argv[2], "r");
    key = kf ? PEM_read_PrivateKey(kf, NULL, NULL, NULL) : NULL;
    if (key == NULL) {
        fprintf(stderr, "gen-tcb: %s: no private key\n", argv[2]);
        return 1;
    }

    fclose(kf);

    /* Intel's layout: the signed member first, the signature last */
    member = body + sizeof("{\"tcbInfo\":") - 1;
    fmspc = strstr(body, "\"fmspc\":\"");
    sigpos = strstr(body, ",\"signature\":\"");

    if (strncmp(body, "{\"tcbInfo\":", sizeof("{\"tcbInfo\":") - 1) != 0
        || fmspc == NULL || sigpos == NULL
        || strlen(sigpos) != sizeof(",\"signature\":\"") - 1 + 128 + 2)
    {
        fprintf(stderr, "gen-tcb: %s is not a TCB info as Intel lays "
                        "it out\n", argv[1]);
        return 1;
    }

    fmspc += sizeof("\"fmspc\":\"") - 1;

    snprintf(path, sizeof(path), "%s/tcb", argv[4]);
    if (mkdir(path, 0755) == -1 && errno != EEXIST) {
        fprintf(stderr, "gen-tcb: %s: %s\n", path, strerror(errno));
        return 1;
    }

    for (i = first; i < first + count; i++) {
        snprintf(name, sizeof(name), "B0%010lX", i);
        memcpy(fmspc, name, 12);

        sign(key, member, sigpos - member, sighex);
        memcpy(sigpos + sizeof(",\"signature\":\"") - 1, sighex, 128);

        EVP_Digest(body, len, digest, NULL, EVP_sha256(), NULL);
        hex(digest, 32, sha);

        for (p = name; *p; p++) {
            if (*p >= 'A' && *p <= 'F') {
                *p += 'a' - 'A';
            }
        }

        snprintf(path, sizeof(path), "%s/tcb/%s.json", argv[4], name);

        f = fopen(path, "wb");
        done = f ? fwrite(body, 1, len, f) : 0;
        if (f == NULL || done != len || fclose(f) != 0) {
            fprintf(stderr, "gen-tcb: %s: cannot write\n", path);
            return 1;
        }

        printf("{\"origin\":\"intel\",\"path\":\"/sgx/certification/v4/tcb\","
               "\"query\":\"fmspc=%s&update=standard\","
               "\"file\":\"tcb/%s.json\",\"sha256\":\"%s\","
               "\"headers\":{\"TCB-Info-Issuer-Chain\":\"%s\"}}\n",
               name, name, sha, chain);
    }

    EVP_PKEY_free(key);

    return 0;
}
