#include "fb_protocol.h"

#include <string.h>

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, not reflected, no final XOR.
 * Bitwise rather than a table: 512 bytes of flash buy nothing at these frame sizes. */
uint16_t fb_crc16(const uint8_t *data, size_t len) {
    uint16_t crc = 0xFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (int bit = 0; bit < 8; bit++) {
            uint32_t shifted = (uint32_t)crc << 1;
            crc = (uint16_t)((crc & 0x8000u) ? (shifted ^ 0x1021u) : shifted);
        }
    }
    return crc;
}

/* Same block rules as the Python `cobs` package: a full 254-byte block (code 0xFF) at the
 * very end is not followed by an extra code byte. */
size_t fb_cobs_encode(const uint8_t *in, size_t len, uint8_t *out) {
    size_t o = 0, start = 0;
    bool final_zero = true;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == 0) {
            final_zero = true;
            out[o++] = (uint8_t)(i - start + 1);
            memcpy(out + o, in + start, i - start);
            o += i - start;
            start = i + 1;
        } else if (i - start == 0xFDu) {
            final_zero = false;
            out[o++] = 0xFF;
            memcpy(out + o, in + start, i + 1 - start);
            o += i + 1 - start;
            start = i + 1;
        }
    }
    if (len != start || final_zero) {
        out[o++] = (uint8_t)(len - start + 1);
        memcpy(out + o, in + start, len - start);
        o += len - start;
    }
    return o;
}

int fb_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap) {
    size_t i = 0, o = 0;
    while (i < len) {
        uint8_t code = in[i++];
        if (code == 0) return -1;
        size_t run = (size_t)code - 1;
        if (run > len - i || run > cap - o) return -1;
        for (size_t k = 0; k < run; k++) {
            if (in[i + k] == 0) return -1;
            out[o++] = in[i + k];
        }
        i += run;
        if (i < len && code < 0xFFu) {
            if (o >= cap) return -1;
            out[o++] = 0;
        }
    }
    return (int)o;
}

void fb_sanitize_text(const uint8_t *raw, size_t len, size_t max, char *out) {
    size_t n = len < max ? len : max;
    for (size_t i = 0; i < n; i++) {
        out[i] = (raw[i] >= 0x20u && raw[i] <= 0x7Eu) ? (char)raw[i] : '?';
    }
    out[n] = '\0';
}

size_t fb_frame_encode(uint8_t type, uint8_t seq, const uint8_t *payload, size_t len,
                       uint8_t out[FB_MAX_WIRE]) {
    uint8_t body[FB_MAX_BODY];
    if (len > FB_MAX_PAYLOAD) return 0;
    body[0] = FB_PROTOCOL_VERSION;
    body[1] = type;
    body[2] = seq;
    body[3] = (uint8_t)len;
    if (len > 0) memcpy(body + FB_HEADER_SIZE, payload, len);
    uint16_t crc = fb_crc16(body, FB_HEADER_SIZE + len);
    body[FB_HEADER_SIZE + len] = (uint8_t)(crc & 0xFFu);
    body[FB_HEADER_SIZE + len + 1] = (uint8_t)(crc >> 8);
    size_t n = fb_cobs_encode(body, FB_HEADER_SIZE + len + FB_CRC_SIZE, out);
    out[n++] = 0x00;
    return n;
}

fb_result_t fb_frame_check(const uint8_t *encoded, size_t len, fb_frame_t *out) {
    uint8_t body[FB_MAX_BODY];
    if (len > FB_MAX_ENCODED) return FB_ERR_OVERSIZE;
    int n = fb_cobs_decode(encoded, len, body, sizeof body);
    if (n < 0) return FB_ERR_COBS;
    if ((size_t)n < FB_HEADER_SIZE + FB_CRC_SIZE) return FB_ERR_SHORT;
    size_t data_len = (size_t)n - FB_CRC_SIZE;
    uint16_t crc = (uint16_t)(body[data_len] | (body[data_len + 1] << 8));
    if (fb_crc16(body, data_len) != crc) return FB_ERR_CRC;
    if (body[0] != FB_PROTOCOL_VERSION) return FB_ERR_VERSION;
    if (body[3] != data_len - FB_HEADER_SIZE) return FB_ERR_LENGTH;
    out->type = body[1];
    out->seq = body[2];
    out->len = body[3];
    memcpy(out->payload, body + FB_HEADER_SIZE, out->len);
    return FB_OK;
}

void fb_decoder_init(fb_decoder_t *dec) {
    dec->len = 0;
    dec->discarding = false;
}

fb_result_t fb_decoder_push(fb_decoder_t *dec, uint8_t byte, fb_frame_t *out) {
    if (byte == 0x00) {
        bool skip = dec->discarding || dec->len == 0; /* rest of an oversize run, or a flush */
        size_t len = dec->len;
        dec->len = 0;
        dec->discarding = false;
        return skip ? FB_NONE : fb_frame_check(dec->buf, len, out);
    }
    if (dec->discarding) return FB_NONE;
    if (dec->len == FB_MAX_ENCODED) {
        dec->len = 0;
        dec->discarding = true;
        return FB_ERR_OVERSIZE;
    }
    dec->buf[dec->len++] = byte;
    return FB_NONE;
}

/* --- messages ------------------------------------------------------------------------ */

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* Sanitized text of at most max bytes; returns its length. */
static size_t put_text(uint8_t *p, const char *text, size_t max) {
    size_t n = 0;
    while (n < max && text[n] != '\0') n++;
    fb_sanitize_text((const uint8_t *)text, n, max, (char *)p);
    return n; /* the NUL written after the text is outside the payload length */
}

size_t fb_msg_payload(const fb_msg_t *msg, uint8_t payload[FB_MAX_PAYLOAD]) {
    /* Text is staged one byte longer than its limit for the NUL that put_text writes. */
    uint8_t text[FB_ERROR_TEXT_MAX + 1];
    size_t n;
    switch (msg->type) {
    case FB_MSG_HELLO:
        payload[0] = msg->u.hello.major;
        payload[1] = msg->u.hello.minor;
        payload[2] = msg->u.hello.patch;
        payload[3] = msg->u.hello.caps;
        n = put_text(text, msg->u.hello.name, FB_NAME_MAX);
        memcpy(payload + 4, text, n);
        return 4 + n;
    case FB_MSG_HEARTBEAT:
        put_u32(payload, msg->u.heartbeat_uptime_ms);
        return 4;
    case FB_MSG_ACK:
        payload[0] = msg->u.acked_seq;
        return 1;
    case FB_MSG_BUTTON:
        payload[0] = msg->u.button.button;
        payload[1] = msg->u.button.gesture;
        put_u32(payload + 2, msg->u.button.t_ms);
        return 6;
    case FB_MSG_VOLUME:
        payload[0] = msg->u.volume;
        return 1;
    case FB_MSG_BATTERY:
        payload[0] = (uint8_t)msg->u.battery.millivolts;
        payload[1] = (uint8_t)(msg->u.battery.millivolts >> 8);
        payload[2] = msg->u.battery.percent;
        payload[3] = msg->u.battery.charging;
        return 4;
    case FB_MSG_ERROR:
        payload[0] = msg->u.error.code;
        n = put_text(text, msg->u.error.text, FB_ERROR_TEXT_MAX);
        memcpy(payload + 1, text, n);
        return 1 + n;
    case FB_MSG_STATE:
        payload[0] = msg->u.state;
        return 1;
    case FB_MSG_LANG_PAIR:
        n = put_text(text, msg->u.lang_pair, FB_LANG_PAIR_MAX);
        if (n == 0) {
            text[0] = '?'; /* the spec requires at least one character */
            n = 1;
        }
        memcpy(payload, text, n);
        return n;
    default: /* LANG_SWAP */
        return 0;
    }
}

size_t fb_msg_encode(const fb_msg_t *msg, uint8_t seq, uint8_t out[FB_MAX_WIRE]) {
    uint8_t payload[FB_MAX_PAYLOAD];
    size_t len = fb_msg_payload(msg, payload);
    return fb_frame_encode(msg->type, seq, payload, len, out);
}

static bool accepted(uint8_t type, fb_direction_t dir) {
    switch (type) {
    case FB_MSG_HEARTBEAT:
    case FB_MSG_ACK:
    case FB_MSG_VOLUME:
        return true;
    case FB_MSG_HELLO:
    case FB_MSG_BUTTON:
    case FB_MSG_LANG_SWAP:
    case FB_MSG_BATTERY:
    case FB_MSG_ERROR:
        return dir == FB_DIR_DEVICE_TO_HOST;
    case FB_MSG_STATE:
    case FB_MSG_LANG_PAIR:
        return dir == FB_DIR_HOST_TO_DEVICE;
    default:
        return false;
    }
}

fb_result_t fb_msg_parse(const fb_frame_t *frame, fb_direction_t dir, fb_msg_t *out) {
    const uint8_t *p = frame->payload;
    size_t len = frame->len;
    if (!accepted(frame->type, dir)) return FB_ERR_TYPE;
    memset(out, 0, sizeof *out);
    out->type = frame->type;
    switch (frame->type) {
    case FB_MSG_HELLO:
        if (len < 4 || len > 4 + FB_NAME_MAX) return FB_ERR_PAYLOAD;
        out->u.hello.major = p[0];
        out->u.hello.minor = p[1];
        out->u.hello.patch = p[2];
        out->u.hello.caps = p[3];
        fb_sanitize_text(p + 4, len - 4, FB_NAME_MAX, out->u.hello.name);
        return FB_OK;
    case FB_MSG_HEARTBEAT:
        if (len != 4) return FB_ERR_PAYLOAD;
        out->u.heartbeat_uptime_ms = get_u32(p);
        return FB_OK;
    case FB_MSG_ACK:
        if (len != 1) return FB_ERR_PAYLOAD;
        out->u.acked_seq = p[0];
        return FB_OK;
    case FB_MSG_BUTTON:
        if (len != 6 || p[0] > FB_BUTTON_FUNC || p[1] > FB_GESTURE_LONG) return FB_ERR_PAYLOAD;
        out->u.button.button = p[0];
        out->u.button.gesture = p[1];
        out->u.button.t_ms = get_u32(p + 2);
        return FB_OK;
    case FB_MSG_LANG_SWAP:
        return len == 0 ? FB_OK : FB_ERR_PAYLOAD;
    case FB_MSG_VOLUME:
        if (len != 1 || p[0] > FB_VOLUME_MAX) return FB_ERR_PAYLOAD;
        out->u.volume = p[0];
        return FB_OK;
    case FB_MSG_BATTERY:
        if (len != 4 || (p[2] > 100 && p[2] != FB_BATTERY_PERCENT_UNKNOWN) ||
            p[3] > FB_CHARGING_EXTERNAL_POWER)
            return FB_ERR_PAYLOAD;
        out->u.battery.millivolts = (uint16_t)(p[0] | (p[1] << 8));
        out->u.battery.percent = p[2];
        out->u.battery.charging = p[3];
        return FB_OK;
    case FB_MSG_ERROR:
        if (len < 1 || len > 1 + FB_ERROR_TEXT_MAX) return FB_ERR_PAYLOAD;
        out->u.error.code = p[0];
        fb_sanitize_text(p + 1, len - 1, FB_ERROR_TEXT_MAX, out->u.error.text);
        return FB_OK;
    case FB_MSG_STATE:
        if (len != 1 || p[0] > FB_STATE_ERROR) return FB_ERR_PAYLOAD;
        out->u.state = p[0];
        return FB_OK;
    default: /* FB_MSG_LANG_PAIR */
        if (len < 1 || len > FB_LANG_PAIR_MAX) return FB_ERR_PAYLOAD;
        fb_sanitize_text(p, len, FB_LANG_PAIR_MAX, out->u.lang_pair);
        return FB_OK;
    }
}
