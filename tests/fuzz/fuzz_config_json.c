/* Fuzzes the Hugging Face config.json reader (io/config_json.c, io/family_decoder.c,
 * checkpoint_read_config). Input: the bytes of config.json. Checked beyond "no crash, no leak": an accepted
 * config has sane, mutually consistent sizes (the rest of attrun allocates from
 * them); a refusal names the file. */
#include "fuzz_util.h"
#include "io/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512], err[1024] = "";
    fuzz_write(path, sizeof path, "config.json", data, size);
    ModelConfig cfg;
    if (checkpoint_read_config(fuzz_dir(), &cfg, err, sizeof err) == 0) {
        if (cfg.V <= 0 || cfg.P <= 0 || cfg.D <= 0 || cfg.L <= 0 || cfg.NH <= 0 || cfg.FF <= 0 || cfg.C <= 0)
            abort();
        if (cfg.pad_id >= cfg.V || cfg.position_offset >= cfg.P)
            abort();
        if (cfg.arch == ARCH_BERT || cfg.arch == ARCH_ROBERTA || cfg.arch == ARCH_DISTILBERT) {
            int types_ok = cfg.arch == ARCH_DISTILBERT ? cfg.TV == 0 : cfg.TV > 0; /* DistilBERT has none */
            if (!types_ok || cfg.D % cfg.NH != 0 || cfg.pad_id < 0)
                abort();
        } else {
            /* Decoders: no token types; head_dim may make NH·hs differ from D; GQA groups;
             * RoPE rotates pairs; special ids are -1 (none) or in the vocabulary. */
            if (cfg.TV != 0 || cfg.hs <= 0 || cfg.NKV <= 0 || cfg.NH % cfg.NKV != 0 || cfg.pad_id < -1 ||
                cfg.bos_id < -1 || cfg.bos_id >= cfg.V || cfg.eos_id < -1 || cfg.eos_id >= cfg.V)
                abort();
            if (cfg.pos == POS_ROPE && cfg.hs % 2)
                abort();
            if (cfg.head != HEAD_LM && cfg.head != HEAD_SCORE)
                abort();
        }
        if (cfg.head == HEAD_CLASSIFIER) {
            if (!cfg.labels)
                abort();
            for (int i = 0; i < cfg.C; i++)
                if (!cfg.labels[i] || strlen(cfg.labels[i]) > (1u << 20))
                    abort();
        }
        if (!memchr(cfg.model_type, 0, sizeof cfg.model_type))
            abort();
        model_config_free(&cfg);
    } else {
        fuzz_check_err(err, "config.json");
    }
    return 0;
}
