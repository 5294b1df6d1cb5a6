/* fuzz_sshkey.c: sshkey_parse() (controlplane/sshkey*.c), the OpenSSH
 * public key line a user pastes into POST /v1/ssh-keys or a run.  The input
 * is the line as sent.  A key that is accepted must come back the same from
 * its normalized form (same type, bits and fingerprint). */
#define _GNU_SOURCE
#include "fuzz.h"

#include "sshkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size};
    char *text = fuzz_rest(&in);
    sshkey_info key = {0};
    cu_error *err = NULL;
    if (sshkey_parse(text, &key, &err) == 0) {
        FUZZ_CHECK(err == NULL && key.type && key.fingerprint && key.normalized && key.comment);
        sshkey_info again = {0};
        cu_error *err2 = NULL;
        FUZZ_CHECK(sshkey_parse(key.normalized, &again, &err2) == 0);
        FUZZ_CHECK(strcmp(again.fingerprint, key.fingerprint) == 0 &&
                   strcmp(again.type, key.type) == 0 && again.bits == key.bits &&
                   strcmp(again.normalized, key.normalized) == 0);
        sshkey_info_clear(&again);
    } else {
        FUZZ_CHECK(err != NULL && err->message != NULL);
        FUZZ_CHECK(err->status == 400 || err->status == 500);
    }
    sshkey_info_clear(&key);
    cu_error_free(err);
    free(text);
    return 0;
}
