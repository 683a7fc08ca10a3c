/* Checks firmware_bridge/test_vectors.txt against the C core (the Python side checks the
 * same file), so both implementations provably produce and accept the same bytes.
 * Usage: test_vectors PATH */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fb_input.h"
#include "fb_protocol.h"

#define MAX_TOKENS 64
#define MAX_BYTES 2048
#define OUT_SIZE 4096

static const struct {
    const char *name;
    uint8_t type;
} TYPES[] = {
    {"HELLO", FB_MSG_HELLO},   {"HEARTBEAT", FB_MSG_HEARTBEAT}, {"ACK", FB_MSG_ACK},
    {"BUTTON", FB_MSG_BUTTON}, {"LANG_SWAP", FB_MSG_LANG_SWAP}, {"VOLUME", FB_MSG_VOLUME},
    {"BATTERY", FB_MSG_BATTERY}, {"ERROR", FB_MSG_ERROR},       {"STATE", FB_MSG_STATE},
    {"LANG_PAIR", FB_MSG_LANG_PAIR},
};
static const char *GESTURES[] = {"DOWN", "UP", "SHORT", "DOUBLE", "LONG"};

static const char *type_name(uint8_t type) {
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (TYPES[i].type == type) return TYPES[i].name;
    return "?";
}

static int type_of(const char *name) {
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (strcmp(TYPES[i].name, name) == 0) return TYPES[i].type;
    return -1;
}

static const char *error_name(fb_result_t r) {
    switch (r) {
    case FB_ERR_OVERSIZE: return "err:oversize";
    case FB_ERR_COBS: return "err:cobs";
    case FB_ERR_SHORT: return "err:short";
    case FB_ERR_CRC: return "err:crc";
    case FB_ERR_VERSION: return "err:version";
    case FB_ERR_LENGTH: return "err:length";
    case FB_ERR_TYPE: return "err:type";
    case FB_ERR_PAYLOAD: return "err:payload";
    default: return "err:?";
    }
}

static size_t from_hex(const char *hex, uint8_t *out, size_t cap) {
    if (strcmp(hex, "-") == 0) return 0;
    size_t n = strlen(hex) / 2;
    if (n > cap) {
        fprintf(stderr, "hex too long\n");
        exit(2);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned value;
        sscanf(hex + 2 * i, "%2x", &value);
        out[i] = (uint8_t)value;
    }
    return n;
}

static void to_hex(const uint8_t *data, size_t len, char *out) {
    for (size_t i = 0; i < len; i++) sprintf(out + 2 * i, "%02x", data[i]);
    out[2 * len] = '\0';
}

static void append(char *out, const char *fmt, unsigned long value) {
    size_t used = strlen(out);
    snprintf(out + used, OUT_SIZE - used, fmt, value);
}

static void append_text(char *out, const char *key, const char *text) {
    char hex[2 * FB_ERROR_TEXT_MAX + 1];
    to_hex((const uint8_t *)text, strlen(text), hex);
    size_t used = strlen(out);
    snprintf(out + used, OUT_SIZE - used, " %s=%s", key, hex);
}

/* "TYPE SEQ key=value..." in the field order of the Python dataclasses. */
static void format_msg(const fb_msg_t *m, uint8_t seq, char *out) {
    snprintf(out, OUT_SIZE, "%s %u", type_name(m->type), seq);
    switch (m->type) {
    case FB_MSG_HELLO:
        append(out, " major=%lu", m->u.hello.major);
        append(out, " minor=%lu", m->u.hello.minor);
        append(out, " patch=%lu", m->u.hello.patch);
        append(out, " caps=%lu", m->u.hello.caps);
        append_text(out, "name", m->u.hello.name);
        break;
    case FB_MSG_HEARTBEAT: append(out, " uptime_ms=%lu", m->u.heartbeat_uptime_ms); break;
    case FB_MSG_ACK: append(out, " acked_seq=%lu", m->u.acked_seq); break;
    case FB_MSG_BUTTON:
        append(out, " button=%lu", m->u.button.button);
        append(out, " gesture=%lu", m->u.button.gesture);
        append(out, " t_ms=%lu", m->u.button.t_ms);
        break;
    case FB_MSG_VOLUME: append(out, " level=%lu", m->u.volume); break;
    case FB_MSG_BATTERY:
        append(out, " millivolts=%lu", m->u.battery.millivolts);
        append(out, " percent=%lu", m->u.battery.percent);
        append(out, " charging=%lu", m->u.battery.charging);
        break;
    case FB_MSG_ERROR:
        append(out, " code=%lu", m->u.error.code);
        append_text(out, "text", m->u.error.text);
        break;
    case FB_MSG_STATE: append(out, " state=%lu", m->u.state); break;
    case FB_MSG_LANG_PAIR: append_text(out, "text", m->u.lang_pair); break;
    default: break;
    }
}

static void set_text(char *dst, size_t cap, const char *hex) {
    uint8_t raw[MAX_BYTES];
    size_t n = from_hex(hex, raw, sizeof raw);
    if (n >= cap) n = cap - 1;
    memcpy(dst, raw, n);
    dst[n] = '\0';
}

static void set_field(fb_msg_t *m, const char *assignment) {
    char key[32];
    const char *eq = strchr(assignment, '=');
    size_t klen = (size_t)(eq - assignment);
    memcpy(key, assignment, klen);
    key[klen] = '\0';
    const char *v = eq + 1;
    unsigned long n = strtoul(v, NULL, 10);
    if (!strcmp(key, "major")) m->u.hello.major = (uint8_t)n;
    else if (!strcmp(key, "minor")) m->u.hello.minor = (uint8_t)n;
    else if (!strcmp(key, "patch")) m->u.hello.patch = (uint8_t)n;
    else if (!strcmp(key, "caps")) m->u.hello.caps = (uint8_t)n;
    else if (!strcmp(key, "name")) set_text(m->u.hello.name, sizeof m->u.hello.name, v);
    else if (!strcmp(key, "uptime_ms")) m->u.heartbeat_uptime_ms = (uint32_t)n;
    else if (!strcmp(key, "acked_seq")) m->u.acked_seq = (uint8_t)n;
    else if (!strcmp(key, "button")) m->u.button.button = (uint8_t)n;
    else if (!strcmp(key, "gesture")) m->u.button.gesture = (uint8_t)n;
    else if (!strcmp(key, "t_ms")) m->u.button.t_ms = (uint32_t)n;
    else if (!strcmp(key, "level")) m->u.volume = (uint8_t)n;
    else if (!strcmp(key, "millivolts")) m->u.battery.millivolts = (uint16_t)n;
    else if (!strcmp(key, "percent")) m->u.battery.percent = (uint8_t)n;
    else if (!strcmp(key, "charging")) m->u.battery.charging = (uint8_t)n;
    else if (!strcmp(key, "code")) m->u.error.code = (uint8_t)n;
    else if (!strcmp(key, "state")) m->u.state = (uint8_t)n;
    else if (!strcmp(key, "text")) {
        if (m->type == FB_MSG_ERROR) set_text(m->u.error.text, sizeof m->u.error.text, v);
        else set_text(m->u.lang_pair, sizeof m->u.lang_pair, v);
    } else {
        fprintf(stderr, "unknown field %s\n", key);
        exit(2);
    }
}

static fb_direction_t direction(const char *name) {
    return strcmp(name, "d2h") == 0 ? FB_DIR_DEVICE_TO_HOST : FB_DIR_HOST_TO_DEVICE;
}

/* Feed bytes to a fresh decoder; every outcome, space-separated, into out. */
static void feed(fb_direction_t dir, const uint8_t *data, size_t len, char *out, int full) {
    fb_decoder_t dec;
    fb_decoder_init(&dec);
    out[0] = '\0';
    for (size_t i = 0; i < len; i++) {
        fb_frame_t frame;
        fb_msg_t msg;
        char one[OUT_SIZE];
        fb_result_t r = fb_decoder_push(&dec, data[i], &frame);
        if (r == FB_NONE) continue;
        if (r == FB_OK) r = fb_msg_parse(&frame, dir, &msg);
        if (r != FB_OK) snprintf(one, sizeof one, "%s", error_name(r));
        else if (full) format_msg(&msg, frame.seq, one);
        else snprintf(one, sizeof one, "%s@%u", type_name(msg.type), frame.seq);
        size_t used = strlen(out);
        snprintf(out + used, OUT_SIZE - used, "%s%s", used ? " " : "", one);
    }
}

static void join(char **tokens, int from, int to, char *out) {
    out[0] = '\0';
    for (int i = from; i < to; i++) {
        size_t used = strlen(out);
        snprintf(out + used, OUT_SIZE - used, "%s%s", i > from ? " " : "", tokens[i]);
    }
}

/* Returns NULL if the C core agrees with the line, else a description into got. */
static const char *check(char **t, int n, int arrow, char *got) {
    static uint8_t a[MAX_BYTES], b[MAX_BYTES], enc[MAX_BYTES + MAX_BYTES / 254 + 2];
    char expected[OUT_SIZE];
    join(t, arrow + 1, n, expected);
    if (!strcmp(t[0], "crc")) {
        size_t len = from_hex(t[1], a, sizeof a);
        snprintf(got, OUT_SIZE, "%04x", fb_crc16(a, len));
        return strcmp(got, t[2]) ? got : NULL;
    }
    if (!strcmp(t[0], "cobs")) {
        size_t raw_len = from_hex(t[1], a, sizeof a);
        size_t enc_len = from_hex(t[2], b, sizeof b);
        size_t got_len = fb_cobs_encode(a, raw_len, enc);
        to_hex(enc, got_len, got);
        if (got_len != enc_len || memcmp(enc, b, enc_len)) return got;
        int dec_len = fb_cobs_decode(b, enc_len, enc, sizeof enc);
        if (dec_len != (int)raw_len || memcmp(enc, a, raw_len)) return "decode differs";
        return NULL;
    }
    if (!strcmp(t[0], "msg")) {
        fb_msg_t msg;
        uint8_t wire[FB_MAX_WIRE];
        memset(&msg, 0, sizeof msg);
        int type = type_of(t[3]);
        if (type < 0) return "unknown type";
        msg.type = (uint8_t)type;
        for (int i = 4; i < arrow; i++) set_field(&msg, t[i]);
        uint8_t seq = (uint8_t)atoi(t[2]);
        size_t len = fb_msg_encode(&msg, seq, wire);
        to_hex(wire, len, got);
        if (strcmp(got, t[arrow + 1])) return got;
        char fields[OUT_SIZE], want[2 * OUT_SIZE];
        join(t, 4, arrow, fields);
        snprintf(want, sizeof want, "%s %s%s%s", t[3], t[2], fields[0] ? " " : "", fields);
        feed(direction(t[1]), wire, len, got, 1);
        return strcmp(got, want) ? got : NULL;
    }
    if (!strcmp(t[0], "decode") || !strcmp(t[0], "stream")) {
        size_t len = from_hex(t[2], a, sizeof a);
        feed(direction(t[1]), a, len, got, t[0][0] == 'd');
        return strcmp(got, expected) ? got : NULL;
    }
    if (!strcmp(t[0], "press")) {
        fb_press_t p;
        fb_press_init(&p, strcmp(t[1], "raw") ? FB_PRESS_CLASSIFY : FB_PRESS_RAW);
        got[0] = '\0';
        for (int i = 2; i < arrow; i++) {
            uint8_t gestures[2];
            uint32_t at = (uint32_t)strtoul(t[i] + 1, NULL, 10);
            fb_edge_t edge = t[i][0] == 'd' ? FB_EDGE_DOWN : t[i][0] == 'u' ? FB_EDGE_UP : FB_EDGE_NONE;
            int count = fb_press_update(&p, at, edge, gestures);
            for (int k = 0; k < count; k++) {
                size_t used = strlen(got);
                snprintf(got + used, OUT_SIZE - used, "%s%s@%lu", used ? " " : "",
                         GESTURES[gestures[k]], (unsigned long)at);
            }
        }
        return strcmp(got, expected) ? got : NULL;
    }
    return "unknown vector kind";
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s test_vectors.txt\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    static char line[16384];
    int passed = 0, failed = 0, number = 0;
    while (fgets(line, sizeof line, f)) {
        number++;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char copy[sizeof line];
        strcpy(copy, line);
        char *tokens[MAX_TOKENS];
        int n = 0, arrow = -1;
        for (char *tok = strtok(line, " \t\r\n"); tok && n < MAX_TOKENS; tok = strtok(NULL, " \t\r\n")) {
            if (!strcmp(tok, "=>")) arrow = n;
            tokens[n++] = tok;
        }
        if (n == 0) continue;
        if (arrow < 0) arrow = n;
        static char got[OUT_SIZE];
        const char *problem = check(tokens, n, arrow, got);
        if (problem) {
            failed++;
            printf("test_vectors.txt:%d: C gives %s\n    %s", number, problem, copy);
        } else {
            passed++;
        }
    }
    fclose(f);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
